// What the secret scan reports. A finding never carries the secret itself: only its masked form
// and its length. The value stays in the worker that found it until the person asks to see it.

/** Where a later layer leaves a file a secret was found in. */
export type Visibility =
  /** No later layer touches it: it is in the merged filesystem. */
  | { kind: 'merged' }
  /** A later layer's whiteout (or opaque directory) deletes it: hidden, but its bytes are still
   * in the layer it was found in. */
  | { kind: 'deleted'; layer: number }
  /** A later layer puts another entry at its path (or turns a directory above it into a file or
   * link): hidden the same way. */
  | { kind: 'overwritten'; layer: number };

/** A secret in a file of a layer. */
export interface FilePlace {
  kind: 'file';
  /** 0-based. */
  layer: number;
  /** Normalised, no leading slash. */
  path: string;
  /** 1-based. */
  line: number;
  /** The history step (0-based index into the config's history) that made the layer. */
  step?: number;
  visibility: Visibility;
}

/** A secret in the image config: an Env entry, a label, or a history step's command. */
export interface ConfigPlace {
  kind: 'env' | 'label' | 'history';
  /** The variable or label name; for history, the build argument or variable when one was
   * parsed out of the command. */
  key?: string;
  /** For history: the step's 0-based index, and the layer it made (none for an empty layer). */
  step?: number;
  layer?: number;
}

export type Place = FilePlace | ConfigPlace;

/** Where a rule comes from: the secretlint preset, or Berth's own detectors. */
export type RuleOrigin = 'secretlint' | 'berth';

export interface SecretFinding {
  /** Its number within its scan: what Reveal asks for. */
  id: number;
  /** The rule that found it: a secretlint rule id (`@secretlint/secretlint-rule-github`) or one
   * of Berth's (`berth/env-file`, `berth/high-entropy`, `berth/secret-variable`). */
  rule: string;
  origin: RuleOrigin;
  /** What was found, in words, without the value ("GitHub Token", "AWS Secret Access Key"). */
  description: string;
  place: Place;
  /** The first few characters, an ellipsis, and the length: never enough to use. */
  masked: string;
  length: number;
}

/** A file the scan did not read, and why. */
export interface SkippedFile {
  layer: number;
  path: string;
  size: number;
  reason: string;
}

/** A secret as a detector finds it in one text, before it is placed and masked. */
export interface Hit {
  rule: string;
  origin: RuleOrigin;
  description: string;
  /** The secret itself. */
  value: string;
  /** 1-based line in the text scanned. */
  line: number;
  /** A variable or label name the value was assigned to, when the detector knows it. */
  key?: string;
}
