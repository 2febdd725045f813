// The operating system's package databases: Alpine's apk, Debian's dpkg, RPM.
import type { Cataloger } from './types.ts';

export const osCatalogers: Cataloger[] = [];
