/** A small History-API router: the daemon serves index.html for every UI path, so deep links and reloads work. */
import type { AnchorHTMLAttributes, MouseEvent } from 'react';
import { Observable } from './observable';
import { useObservable } from './hooks';

export const currentPath = new Observable<string>(location.pathname);
window.addEventListener('popstate', () => currentPath.set(location.pathname));

export function navigate(path: string, replace = false): void {
  if (path === location.pathname) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  currentPath.set(path);
  window.scrollTo(0, 0);
}

export function usePath(): string {
  return useObservable(currentPath);
}

export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const { to, onClick, ...rest } = props;
  const click = (e: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}
