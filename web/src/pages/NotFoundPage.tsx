import { Link } from 'react-router';
import { usePageTitle } from '../components/usePageTitle.ts';

export default function NotFoundPage() {
  usePageTitle('Page not found');
  return (
    <div className="bevan-narrow">
      <h1 className="nhsuk-heading-l">Page not found</h1>
      <p className="nhsuk-body">If you typed the web address, check it is correct. If you pasted it, check you copied the whole address.</p>
      <p className="nhsuk-body">
        <Link to="/search">Find a person</Link>
      </p>
    </div>
  );
}
