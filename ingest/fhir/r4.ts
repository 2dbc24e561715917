/**
 * FHIR R4 (4.0.1) facts the adapter needs, as data: every resource type name, and the Patient
 * compartment (which elements of a resource say whose it is).
 * Spec: https://hl7.org/fhir/R4/resourcelist.html, https://hl7.org/fhir/R4/compartmentdefinition-patient.html
 * Hand-written rather than loaded from a definitions package: ~150 names and ~70 paths, fixed by
 * the R4 release, against a 40 MB package of StructureDefinitions.
 */

/** Every R4 resource type (the 145 of the Patient CompartmentDefinition, plus Parameters). */
export const R4_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'Account', 'ActivityDefinition', 'AdverseEvent', 'AllergyIntolerance', 'Appointment',
  'AppointmentResponse', 'AuditEvent', 'Basic', 'Binary', 'BiologicallyDerivedProduct',
  'BodyStructure', 'Bundle', 'CapabilityStatement', 'CarePlan', 'CareTeam', 'CatalogEntry',
  'ChargeItem', 'ChargeItemDefinition', 'Claim', 'ClaimResponse', 'ClinicalImpression', 'CodeSystem',
  'Communication', 'CommunicationRequest', 'CompartmentDefinition', 'Composition', 'ConceptMap',
  'Condition', 'Consent', 'Contract', 'Coverage', 'CoverageEligibilityRequest',
  'CoverageEligibilityResponse', 'DetectedIssue', 'Device', 'DeviceDefinition', 'DeviceMetric',
  'DeviceRequest', 'DeviceUseStatement', 'DiagnosticReport', 'DocumentManifest', 'DocumentReference',
  'EffectEvidenceSynthesis', 'Encounter', 'Endpoint', 'EnrollmentRequest', 'EnrollmentResponse',
  'EpisodeOfCare', 'EventDefinition', 'Evidence', 'EvidenceVariable', 'ExampleScenario',
  'ExplanationOfBenefit', 'FamilyMemberHistory', 'Flag', 'Goal', 'GraphDefinition', 'Group',
  'GuidanceResponse', 'HealthcareService', 'ImagingStudy', 'Immunization', 'ImmunizationEvaluation',
  'ImmunizationRecommendation', 'ImplementationGuide', 'InsurancePlan', 'Invoice', 'Library',
  'Linkage', 'List', 'Location', 'Measure', 'MeasureReport', 'Media', 'Medication',
  'MedicationAdministration', 'MedicationDispense', 'MedicationKnowledge', 'MedicationRequest',
  'MedicationStatement', 'MedicinalProduct', 'MedicinalProductAuthorization',
  'MedicinalProductContraindication', 'MedicinalProductIndication', 'MedicinalProductIngredient',
  'MedicinalProductInteraction', 'MedicinalProductManufactured', 'MedicinalProductPackaged',
  'MedicinalProductPharmaceutical', 'MedicinalProductUndesirableEffect', 'MessageDefinition',
  'MessageHeader', 'MolecularSequence', 'NamingSystem', 'NutritionOrder', 'Observation',
  'ObservationDefinition', 'OperationDefinition', 'OperationOutcome', 'Organization',
  'OrganizationAffiliation', 'Parameters', 'Patient', 'PaymentNotice', 'PaymentReconciliation',
  'Person', 'PlanDefinition', 'Practitioner', 'PractitionerRole', 'Procedure', 'Provenance',
  'Questionnaire', 'QuestionnaireResponse', 'RelatedPerson', 'RequestGroup', 'ResearchDefinition',
  'ResearchElementDefinition', 'ResearchStudy', 'ResearchSubject', 'RiskAssessment',
  'RiskEvidenceSynthesis', 'Schedule', 'SearchParameter', 'ServiceRequest', 'Slot', 'Specimen',
  'SpecimenDefinition', 'StructureDefinition', 'StructureMap', 'Subscription', 'Substance',
  'SubstanceNucleicAcid', 'SubstancePolymer', 'SubstanceProtein', 'SubstanceReferenceInformation',
  'SubstanceSourceMaterial', 'SubstanceSpecification', 'SupplyDelivery', 'SupplyRequest', 'Task',
  'TerminologyCapabilities', 'TestReport', 'TestScript', 'ValueSet', 'VerificationResult',
  'VisionPrescription',
]); // prettier-ignore

/**
 * The Patient compartment: for each resource type in it, the element paths (its search
 * parameters' expressions, dotted, arrays stepped through) whose reference to a Patient puts the
 * resource in that Patient's compartment, in the order Bevan tries them (who the record is
 * about first, then who acted: a Patient performer or author). Group (a list of many people) is
 * left out: it belongs to no one person.
 */
export const PATIENT_COMPARTMENT: ReadonlyMap<string, readonly string[]> = new Map<string, string[]>([
  ['Account', ['subject']],
  ['AdverseEvent', ['subject']],
  ['AllergyIntolerance', ['patient', 'recorder', 'asserter']],
  ['Appointment', ['participant.actor']],
  ['AppointmentResponse', ['actor']],
  ['AuditEvent', ['entity.what', 'agent.who']],
  ['Basic', ['subject', 'author']],
  ['BodyStructure', ['patient']],
  ['CarePlan', ['subject', 'activity.detail.performer']],
  ['CareTeam', ['subject', 'participant.member']],
  ['ChargeItem', ['subject']],
  ['Claim', ['patient', 'payee.party']],
  ['ClaimResponse', ['patient']],
  ['ClinicalImpression', ['subject']],
  ['Communication', ['subject', 'sender', 'recipient']],
  ['CommunicationRequest', ['subject', 'sender', 'recipient', 'requester']],
  ['Composition', ['subject', 'author', 'attester.party']],
  ['Condition', ['subject', 'asserter']],
  ['Consent', ['patient']],
  ['Coverage', ['beneficiary', 'subscriber', 'policyHolder', 'payor']],
  ['CoverageEligibilityRequest', ['patient']],
  ['CoverageEligibilityResponse', ['patient']],
  ['DetectedIssue', ['patient']],
  ['DeviceRequest', ['subject', 'performer']],
  ['DeviceUseStatement', ['subject']],
  ['DiagnosticReport', ['subject']],
  ['DocumentManifest', ['subject', 'author', 'recipient']],
  ['DocumentReference', ['subject', 'author']],
  ['Encounter', ['subject']],
  ['EnrollmentRequest', ['candidate']],
  ['EpisodeOfCare', ['patient']],
  ['ExplanationOfBenefit', ['patient', 'payee.party']],
  ['FamilyMemberHistory', ['patient']],
  ['Flag', ['subject']],
  ['Goal', ['subject']],
  ['ImagingStudy', ['subject']],
  ['Immunization', ['patient']],
  ['ImmunizationEvaluation', ['patient']],
  ['ImmunizationRecommendation', ['patient']],
  ['Invoice', ['subject', 'recipient']],
  ['List', ['subject', 'source']],
  ['MeasureReport', ['subject']],
  ['Media', ['subject']],
  ['MedicationAdministration', ['subject', 'performer.actor']],
  ['MedicationDispense', ['subject', 'receiver']],
  ['MedicationRequest', ['subject']],
  ['MedicationStatement', ['subject']],
  ['MolecularSequence', ['patient']],
  ['NutritionOrder', ['patient']],
  ['Observation', ['subject', 'performer']],
  ['Person', ['link.target']],
  ['Procedure', ['subject', 'performer.actor']],
  ['Provenance', ['target']],
  ['QuestionnaireResponse', ['subject', 'author']],
  ['RelatedPerson', ['patient']],
  ['RequestGroup', ['subject', 'action.participant']],
  ['ResearchSubject', ['individual']],
  ['RiskAssessment', ['subject']],
  ['Schedule', ['actor']],
  ['ServiceRequest', ['subject', 'performer']],
  ['Specimen', ['subject']],
  ['SupplyDelivery', ['patient']],
  ['SupplyRequest', ['deliverTo']],
  ['VisionPrescription', ['patient']],
]);

/**
 * For a type outside the compartment (Device, Task…), a `patient`, `subject` or `for` reference
 * to a Patient still says whose it is (an implanted Device names its Patient); Bevan uses it.
 */
export const FALLBACK_SUBJECT_PATHS: readonly string[] = ['patient', 'subject', 'for'];

/**
 * Types about no person (directory, definitional and infrastructure resources): never given a
 * subject, and a reference to one outside the bundle is expected. Group is here too: many people.
 */
export const NON_PERSONAL_TYPES: ReadonlySet<string> = new Set([
  'Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService', 'Endpoint',
  'Medication', 'MedicationKnowledge', 'Substance', 'Group', 'OrganizationAffiliation', 'InsurancePlan',
  'MessageHeader', 'OperationOutcome', 'Parameters', 'Bundle', 'Binary', 'Questionnaire',
  'ValueSet', 'CodeSystem', 'ConceptMap', 'StructureDefinition', 'CapabilityStatement',
  'SearchParameter', 'OperationDefinition', 'NamingSystem', 'Library', 'Measure', 'PlanDefinition',
  'ActivityDefinition', 'ObservationDefinition', 'SpecimenDefinition', 'DeviceDefinition',
  'ChargeItemDefinition', 'EventDefinition', 'MessageDefinition', 'ImplementationGuide',
  'CompartmentDefinition', 'GraphDefinition', 'StructureMap', 'TerminologyCapabilities',
  'ResearchStudy', 'ResearchDefinition', 'ResearchElementDefinition', 'Evidence', 'EvidenceVariable',
  'EffectEvidenceSynthesis', 'RiskEvidenceSynthesis', 'ExampleScenario', 'TestScript', 'TestReport',
  'Subscription', 'Slot', 'CatalogEntry',
]); // prettier-ignore
