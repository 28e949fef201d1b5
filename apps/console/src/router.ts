/** Paths under /console (the API serves index.html for each): /console/<page>?<params>. */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';
export const PAGES = [
  { id: 'runs', title: 'Runs' },
  { id: 'models', title: 'Models' },
  { id: 'score', title: 'Score' },
  { id: 'batch', title: 'Batch scorings' },
] as const;
export type PageId = (typeof PAGES)[number]['id'];

export interface Route {
  page: PageId;
  params: URLSearchParams;
}

function currentRoute(): Route {
  const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  const name = rest.split('/').filter(Boolean)[0];
  const page = PAGES.find((p) => p.id === name)?.id ?? 'runs';
  return { page, params: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

/** Goes to a console path (e.g. 'models?category=screw') without reloading. */
export function navigate(to: string): void {
  history.pushState(null, '', `${BASE}/${to}`);
  for (const listener of listeners) listener();
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** A link inside the console: a real href (open in a new tab works), navigation without reload on a plain click. */
export function linkProps(to: string) {
  return {
    href: `${BASE}/${to}`,
    onClick: (event: MouseEvent) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(to);
    },
  };
}
