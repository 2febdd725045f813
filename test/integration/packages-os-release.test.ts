// os-release(5) is shell syntax: the reference reader is a shell. This machine's own file and
// files with every quoting os-release allows are sourced by sh, and Berth must read the same
// ID, VERSION_ID, PRETTY_NAME and ID_LIKE.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { parseOsRelease } from '../../src/lib/packages/os-release.ts';
import type { OsRelease } from '../../src/lib/packages/types.ts';
import { run } from '../harness/process.ts';

const work = await mkdtemp(join(tmpdir(), 'berth-os-release-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/** What sh makes of the file, in OsRelease's shape. */
async function sourced(path: string): Promise<OsRelease> {
  const { stdout } = await run('sh', [
    '-c',
    `. "$1" && printf '%s\\0%s\\0%s\\0%s' "$ID" "$VERSION_ID" "$PRETTY_NAME" "$ID_LIKE"`,
    'sh',
    path,
  ]);
  const [id, versionId, prettyName, like] = stdout.split('\0');
  const os: OsRelease = { id: id || 'linux' };
  if (versionId) os.versionId = versionId;
  if (prettyName) os.prettyName = prettyName;
  const words = like?.split(/\s+/).filter(Boolean) ?? [];
  if (words.length > 0) os.like = words;
  return os;
}

test("this machine's os-release reads as sh reads it", async () => {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    const bytes = await readFile(path).catch(() => undefined);
    if (!bytes) continue;
    expect(parseOsRelease(bytes), path).toEqual(await sourced(path));
  }
});

test('quotes and escapes as sh reads them', async () => {
  const files = [
    'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40 (Container Image)"\n',
    "ID='opensuse-leap'\nID_LIKE=\"suse opensuse\"\nVERSION_ID='15.6'\n",
    'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n',
    'ID=alpine\nPRETTY_NAME="say \\"hi\\", cost \\$5, back\\\\slash, \\`tick\\`"\n',
    '# comment\n\nID=wolfi\nVERSION_ID=20230201\nPRETTY_NAME="Wolfi"\n',
    'NAME=nameless\n',
  ];
  for (const [i, text] of files.entries()) {
    const path = join(work, `os-release-${i}`);
    await writeFile(path, text);
    expect(parseOsRelease(new TextEncoder().encode(text)), text).toEqual(await sourced(path));
  }
});
