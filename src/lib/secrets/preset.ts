// Running secretlint's recommended rule set over a text, without secretlint's core: each rule is
// `{ messages, meta: { id }, create(context, options) => { file(source) } }`, and reports what it
// finds through `context.report({ message, range })`. The context here is the least the rules
// use (a translator and report), so that the rules run the same in a worker, in Node and in the
// bench; core would bring a profiler, `debug` and an event emitter for nothing.
//
// The rules put the secret itself into their messages ("found GitHub Token: ghp_…"): a message
// is never shown or passed on. The description is the message made again with the secret left
// out, and the secret goes into the hit, for the caller to mask.
import type { Hit } from './types.ts';

/** The rule set, as the UI and README name it. Checked against the installed package by the
 * unit tests, so that an upgrade cannot leave it behind. */
export const RULE_SET = {
  name: 'secretlint recommended preset',
  package: '@secretlint/secretlint-rule-preset-recommend',
  version: '13.0.7',
  licence: 'MIT',
} as const;

// The rules' shape, as much of it as is used here (the preset's own types name packages it
// does not ship).
type Props = Record<string, unknown>;
type MessageFn = (props?: Props) => string;
type Messages = Record<string, MessageFn | Record<string, MessageFn>>;
interface Translated {
  message: string;
  messageId: string;
  data?: Props;
}
interface RuleContext {
  sharedOptions: Record<string, never>;
  createTranslator(messages: Messages): (id: string, props?: Props) => Translated;
  report(descriptor: { message: Translated; range: readonly [number, number] }): void;
  ignore(descriptor: unknown): void;
}
interface RuleSource {
  content: string;
  filePath: string;
  ext: string;
  contentType: 'text';
}
export interface RuleCreator {
  meta: { id: string; type: string; supportedContentTypes?: readonly string[] };
  create(
    context: RuleContext,
    options: object,
  ): { file?(source: RuleSource): void | Promise<void> } | undefined;
}

/** The secretlint-disable comments of the image's own files: an image must not be able to hide
 * its secrets from the scan. */
const SKIPPED_RULES = new Set(['@secretlint/secretlint-rule-filter-comments']);

/** Options the rules are run with: the AWS rule looks for access key ids only when asked. */
const OPTIONS: Record<string, object> = {
  '@secretlint/secretlint-rule-aws': { enableIDScanRule: true },
};

/** Message properties that are not the secret: they stay in the description. */
const NOT_SECRET = new Set(['typeName', 'FILE_NAME']);
/** Stands for the secret while the description is made. */
const HOLE = '\u0000';

/** "found GitHub Token(GitHub personal access tokens): <secret>" → "GitHub Token (GitHub
 * personal access tokens)". */
function describe(fn: MessageFn, props: Props | undefined): string {
  const holed: Props = {};
  for (const [k, v] of Object.entries(props ?? {})) holed[k] = NOT_SECRET.has(k) ? v : HOLE;
  const text = fn(props ? holed : undefined)
    // eslint-disable-next-line no-control-regex -- HOLE, which no message holds
    .replace(/:?\s*\u0000/g, '')
    .replace(/^found\s+/i, '')
    .replace(/(\S)\(/g, '$1 (')
    .trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function english(m: MessageFn | Record<string, MessageFn> | undefined): MessageFn | undefined {
  if (typeof m === 'function') return m;
  return m?.['en'];
}

/** The 1-based line of `index` in `text`. */
function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

export interface RuleRunner {
  /** The rules run, by id. */
  readonly rules: readonly string[];
  /** The secrets the rules find in one text (a file, or a window of one). */
  scan(content: string, filePath: string): Hit[];
}

/** A runner of these rules: each is created once, and reports into the scan in progress. */
export function ruleRunner(creators: readonly RuleCreator[]): RuleRunner {
  let hits: Hit[] = [];
  let content = '';
  const handlers: { id: string; file: (source: RuleSource) => void | Promise<void> }[] = [];
  for (const creator of creators) {
    const id = creator.meta.id;
    if (SKIPPED_RULES.has(id) || creator.meta.type !== 'scanner') continue;
    const context: RuleContext = {
      sharedOptions: {},
      createTranslator: (messages) => (messageId, props) => {
        const fn = english(messages[messageId]);
        if (!fn) throw new Error(`${id}: no message ${messageId}`);
        return { message: describe(fn, props), messageId, ...(props ? { data: props } : {}) };
      },
      report: ({ message, range }) => {
        // The secret is the message's property when it has one (the AWS rule's range covers
        // the whole assignment, not the key), else the text the range covers.
        const prop = Object.entries(message.data ?? {}).find(
          ([k, v]) => !NOT_SECRET.has(k) && typeof v === 'string' && v !== '',
        );
        const value = (prop?.[1] as string | undefined) ?? content.slice(range[0], range[1]);
        const at = content.indexOf(value, Math.max(0, range[0]));
        hits.push({
          rule: id,
          origin: 'secretlint',
          description: message.message,
          value,
          line: lineAt(content, at >= 0 ? at : range[0]),
        });
      },
      ignore: () => undefined,
    };
    const handler = creator.create(context, OPTIONS[id] ?? {});
    const file = handler?.file;
    if (file) handlers.push({ id, file: file.bind(handler) });
  }

  return {
    rules: handlers.map((h) => h.id),
    scan(text, filePath) {
      const found: Hit[] = [];
      hits = found;
      content = text;
      const slash = filePath.lastIndexOf('/');
      const dot = filePath.lastIndexOf('.');
      const ext = dot > slash + 1 ? filePath.slice(dot).toLowerCase() : '';
      // The GCP rule reads a .p12 file from the local disk by its path: never an image's file.
      // It is the only rule that answers asynchronously, and only for that extension; were
      // another to, its late reports would go nowhere rather than into another text's hits.
      const source: RuleSource = {
        content: text,
        filePath,
        ext: ext === '.p12' ? '' : ext,
        contentType: 'text',
      };
      try {
        for (const h of handlers) {
          const r = h.file(source);
          if (r) r.catch(() => undefined);
        }
      } finally {
        hits = [];
        content = '';
      }
      return found;
    },
  };
}

/** The preset's rules, loaded when a scan first needs them: they stay out of every bundle but
 * the scan worker's. */
export async function loadPreset(): Promise<RuleRunner> {
  const mod = await import('@secretlint/secretlint-rule-preset-recommend');
  return ruleRunner(mod.rules as unknown as RuleCreator[]);
}
