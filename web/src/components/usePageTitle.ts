import { useEffect } from 'react';

/** Sets the document title (what a screen reader announces on navigation, what a tab shows). */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} – Bevan integrated care record`;
  }, [title]);
}
