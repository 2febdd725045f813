// In-page links: real hrefs (so they can be opened in a new tab, copied and shared), followed
// in place on a plain click.
import { formatRoute, type Route } from '../state/route.ts';

/** Relative, like every URL of the build: the site may live in any directory. */
export function hrefOf(route: Route): string {
  return formatRoute(route) || './';
}

/** A click handler that follows `route` in the page unless the user asked for a new tab or
 * window (modifier keys, middle button). */
export function follow(route: Route, go: (route: Route) => void) {
  return (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    go(route);
  };
}
