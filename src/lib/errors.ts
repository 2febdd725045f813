// One way to turn anything thrown into words for a person.

/** The message of an error, or the thrown value as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
