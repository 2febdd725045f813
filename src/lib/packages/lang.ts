// Language packages: npm, Python, Go build info, Java archives, Rust's cargo auditable.
import type { Cataloger } from './types.ts';

export const langCatalogers: Cataloger[] = [];
