// ajv-formats-draft2019 ships no types: the one call the SBOM tests make.
declare module 'ajv-formats-draft2019' {
  import type { Ajv } from 'ajv';
  export default function addFormats(ajv: Ajv, opts?: { formats?: string[] }): Ajv;
}
