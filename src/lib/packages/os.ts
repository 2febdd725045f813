// The operating system's package databases: Alpine's apk, Debian's dpkg, RPM.
import { apkCataloger } from './apk.ts';
import { dpkgCataloger } from './dpkg.ts';
import { rpmCataloger } from './rpm.ts';
import type { Cataloger } from './types.ts';

export const osCatalogers: Cataloger[] = [apkCataloger, dpkgCataloger, rpmCataloger];
