/** History routing under /dashboard/: the path is the page, `?namespace=` the namespace shown. */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/dashboard';

type Listener = () => void;
const listeners = new Set<Listener>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const fn of listeners) fn();
}

window.addEventListener('popstate', () => {
  for (const fn of listeners) fn();
});

/** The current location, re-rendering the caller when it changes. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = (): void => setTick((t) => t + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return { path: location.pathname.slice(BASE.length) || '/', query: new URLSearchParams(location.search) };
}

/** A link to a page of the app, keeping the namespace unless it names one. */
export function href(path: string, namespace?: string): string {
  const ns = namespace ?? new URLSearchParams(location.search).get('namespace') ?? '';
  return `${BASE}${path}${ns ? `?namespace=${encodeURIComponent(ns)}` : ''}`;
}

/** Follow in-app links without reloading (ordinary clicks only: a new tab still opens one). */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as HTMLElement).closest('a');
  if (!a || a.target || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(`${BASE}/`)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}
