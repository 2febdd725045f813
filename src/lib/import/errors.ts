// The one error an import reports: its message is shown to the person as it is, after
// "<file> was not imported: ", so it says what is wrong with the archive in their words.

export class ImportError extends Error {
  override name = 'ImportError';
}
