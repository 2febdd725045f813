// What an SBOM may say about a declared licence: an SPDX licence id, a valid SPDX expression, or
// only the text as written. Both formats reject an id or an expression that is not on the SPDX
// list, so the text is checked against it (spdx-expression-parse, with the SPDX list from
// spdx-license-ids) rather than trusted.
import parse from 'spdx-expression-parse';

export type LicenseChoice =
  /** One licence of the SPDX list, no exception, no "+". */
  | { kind: 'id'; id: string }
  /** A valid SPDX expression; `refs` are its LicenseRef-… names, which a document must define. */
  | { kind: 'expression'; expression: string; refs: string[] }
  /** Anything else: a name, a URL, "GPL2", "MIT/X11". */
  | { kind: 'text'; text: string };

type Node = ReturnType<typeof parse>;

/** The licence ids an expression names (LicenseRef-… included). */
function collect(node: Node, out: string[]) {
  if ('license' in node) out.push(node.license);
  else {
    collect(node.left, out);
    collect(node.right, out);
  }
}

const cache = new Map<string, LicenseChoice>();

/** Classifies a declared licence. Results are cached: an image declares few distinct texts. */
export function classifyLicense(text: string): LicenseChoice {
  let choice = cache.get(text);
  if (choice) return choice;
  choice = classify(text.trim());
  if (cache.size < 10_000) cache.set(text, choice);
  return choice;
}

function classify(text: string): LicenseChoice {
  let ast: Node;
  try {
    ast = parse(text);
  } catch {
    return { kind: 'text', text };
  }
  // The parser also takes a DocumentRef-…:LicenseRef-…, which points into another document
  // that an exported SBOM cannot name: kept as text.
  const ids: string[] = [];
  collect(ast, ids);
  if (ids.some((id) => id.startsWith('DocumentRef-'))) return { kind: 'text', text };
  if ('license' in ast && !ast.plus && !ast.exception && !ast.license.startsWith('LicenseRef-')) {
    return { kind: 'id', id: ast.license };
  }
  return {
    kind: 'expression',
    expression: text,
    refs: [...new Set(ids.filter((id) => id.startsWith('LicenseRef-')))],
  };
}
