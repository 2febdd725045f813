// Language packages: npm, Python, Go build info, Java archives, Rust's cargo auditable.
import { cargoCataloger } from './cargo.ts';
import { goCataloger } from './go.ts';
import { javaCataloger } from './java.ts';
import { npmCataloger } from './npm.ts';
import { pythonCataloger } from './python.ts';
import type { Cataloger } from './types.ts';

export const langCatalogers: Cataloger[] = [
  npmCataloger,
  pythonCataloger,
  goCataloger,
  javaCataloger,
  cargoCataloger,
];
