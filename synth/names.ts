/** Name and address vocabulary for synthetic people (common in England, Greater Manchester mix). */

export const MALE_GIVEN = [
  'James', 'John', 'David', 'Michael', 'Peter', 'Paul', 'Robert', 'Stephen', 'Andrew', 'Mark', 'Richard', 'Christopher',
  'William', 'Thomas', 'Daniel', 'Matthew', 'Anthony', 'Joseph', 'Kevin', 'Gary', 'Ian', 'Alan', 'Brian', 'Keith',
  'Colin', 'Graham', 'Philip', 'Martin', 'Simon', 'Jonathan', 'Benjamin', 'Samuel', 'Oliver', 'Jack', 'Harry', 'George',
  'Charlie', 'Jacob', 'Noah', 'Leo', 'Oscar', 'Alfie', 'Freddie', 'Arthur', 'Muhammad', 'Mohammed', 'Ali', 'Imran',
  'Hassan', 'Omar', 'Arjun', 'Rahul', 'Sanjay', 'Tomasz', 'Piotr', 'Patrick', 'Sean', 'Liam', 'Connor', 'Kieran',
  'Ryan', 'Lewis', 'Nathan', 'Adam', 'Luke', 'Dylan', 'Ethan', 'Kwame', 'Emeka', 'Frederick', 'Harold', 'Kenneth',
] as const;

export const FEMALE_GIVEN = [
  'Mary', 'Margaret', 'Susan', 'Patricia', 'Elizabeth', 'Sarah', 'Karen', 'Julie', 'Helen', 'Joanne', 'Nicola', 'Claire',
  'Catherine', 'Christine', 'Jennifer', 'Rebecca', 'Emma', 'Laura', 'Rachel', 'Hannah', 'Amy', 'Lucy', 'Sophie', 'Chloe',
  'Jessica', 'Emily', 'Olivia', 'Amelia', 'Isla', 'Ava', 'Mia', 'Grace', 'Lily', 'Freya', 'Ella', 'Poppy', 'Ruby',
  'Evelyn', 'Doris', 'Joan', 'Dorothy', 'Irene', 'Barbara', 'Jean', 'Pauline', 'Janet', 'Gillian', 'Deborah', 'Alison',
  'Fatima', 'Aisha', 'Ayesha', 'Zainab', 'Priya', 'Anjali', 'Sunita', 'Agnieszka', 'Katarzyna', 'Siobhan', 'Niamh',
  'Bernadette', 'Victoria', 'Charlotte', 'Katherine', 'Abigail', 'Megan', 'Zara', 'Ngozi', 'Abena', 'Kathleen', 'Eileen',
] as const;

export const SURNAMES = [
  'Smith', 'Jones', 'Williams', 'Taylor', 'Brown', 'Davies', 'Evans', 'Wilson', 'Thomas', 'Johnson', 'Roberts', 'Robinson',
  'Thompson', 'Wright', 'Walker', 'White', 'Edwards', 'Hughes', 'Green', 'Hall', 'Lewis', 'Harris', 'Clarke', 'Patel',
  'Jackson', 'Wood', 'Turner', 'Martin', 'Cooper', 'Hill', 'Ward', 'Morris', 'Moore', 'Clark', 'Lee', 'King', 'Baker',
  'Harrison', 'Morgan', 'Allen', 'James', 'Scott', 'Phillips', 'Watson', 'Davis', 'Parker', 'Price', 'Bennett', 'Young',
  'Griffiths', 'Mitchell', 'Kelly', 'Cook', 'Carter', 'Richardson', 'Bailey', 'Collins', 'Bell', 'Shaw', 'Murphy',
  'Miller', 'Cox', 'Richards', 'Khan', 'Marshall', 'Anderson', 'Simpson', 'Ellis', 'Adams', 'Singh', 'Begum', 'Wilkinson',
  'Foster', 'Chapman', 'Powell', 'Webb', 'Rogers', 'Gray', 'Mason', 'Ali', 'Hunt', 'Hussain', 'Campbell', 'Matthews',
  'Owen', 'Palmer', 'Holmes', 'Mills', 'Barnes', 'Knight', 'Lloyd', 'Butler', 'Russell', 'Barker', 'Fisher', 'Stevens',
  'Jenkins', 'Murray', 'Dixon', 'Harvey', "O'Brien", "O'Connor", 'McDonald', 'Ahmed', 'Shah', 'Kowalski', 'Nowak',
  'Okafor', 'Mensah', 'Sharma', 'Chowdhury', 'Iqbal', 'Byrne', 'Doyle', 'Gallagher', 'Nolan', 'Lynch', 'Quinn',
  'Fletcher', 'Howarth', 'Ashworth', 'Pickering', 'Heywood', 'Whitehead', 'Ogden', 'Schofield', 'Greenwood', 'Kershaw',
] as const;

/** Familiar forms some services record instead of the registered given name. */
export const NICKNAMES: Readonly<Record<string, string>> = {
  William: 'Bill', Robert: 'Bob', Richard: 'Dick', James: 'Jim', Thomas: 'Tom', Michael: 'Mike', Christopher: 'Chris',
  Anthony: 'Tony', Joseph: 'Joe', Daniel: 'Danny', Matthew: 'Matt', Stephen: 'Steve', Andrew: 'Andy', Benjamin: 'Ben',
  Samuel: 'Sam', Jonathan: 'Jon', Philip: 'Phil', Kenneth: 'Ken', Frederick: 'Fred', Harold: 'Harry', Peter: 'Pete',
  Margaret: 'Maggie', Elizabeth: 'Liz', Patricia: 'Pat', Jennifer: 'Jenny', Catherine: 'Cathy', Katherine: 'Kate',
  Rebecca: 'Becky', Victoria: 'Vicky', Dorothy: 'Dot', Christine: 'Chris', Susan: 'Sue', Deborah: 'Debbie',
  Kathleen: 'Kath', Abigail: 'Abby', Charlotte: 'Charlie', Barbara: 'Babs', Gillian: 'Gill', Nicola: 'Nicky',
};

export const STREETS = [
  'Chester Road', 'Barton Road', 'Washway Road', 'Flixton Road', 'Manchester Road', 'Church Road', 'Park Road',
  'Stretford Road', 'Cross Street', 'School Road', 'Northenden Road', 'Marsland Road', 'Moss Lane', 'Ashley Road',
  'Stockport Road', 'Brook Lane', 'Derbyshire Road', 'Seymour Grove', 'Kings Road', 'Talbot Road', 'Davyhulme Road',
  'Woodsend Road', 'Moorside Road', 'Dane Road', 'Harboro Road', 'Broad Road', 'Oakfield Road', 'Victoria Road',
  'Grove Lane', 'Thorley Lane', 'Wood Lane', 'Riddings Road', 'Mayors Road', 'Brooklands Road', 'Hale Road',
  'Langham Road', 'Lime Grove', 'Princess Road', 'Cornbrook Road', 'Urmston Lane', 'Bowfell Road', 'Lostock Road',
] as const;

/** Inward-code letters: the Royal Mail never uses C, I, K, M, O or V there. */
export const INWARD_LETTERS = 'ABDEFGHJLNPQRSTUWXYZ';
