// Every cataloger the inventory runs, the operating system's first.
import { langCatalogers } from './lang.ts';
import { osCatalogers } from './os.ts';
import type { Cataloger } from './types.ts';

export const catalogers: readonly Cataloger[] = [...osCatalogers, ...langCatalogers];
