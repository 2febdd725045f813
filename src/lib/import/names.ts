// Which names imported images are stored under. An archive's names are claims, taken only
// when they parse as references; otherwise the image gets a name of its own under
// localhost/imported, so it is never filed under someone else's repository by accident.
import { shortDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { formatReference, isTag, parseReference } from '../reference/reference.ts';

/** Where images without a usable name go: a repository no registry serves. */
export const importedRepository = 'localhost/imported';

/** The canonical form of s, or undefined when it is not a reference. */
function canonical(s: string | undefined): string | undefined {
  if (!s) return undefined;
  try {
    return formatReference(parseReference(s));
  } catch {
    return undefined;
  }
}

/** Whether an org.opencontainers.image.ref.name names a repository, not just a tag: docker save,
 * skopeo's oci transport and Berth write "3.20" or "v1" there, which would otherwise parse as
 * docker.io/library/3.20:latest. */
export function namesRepository(refName: string): boolean {
  return /[/:@]/.test(refName);
}

/** The name of an index.json entry: containerd's io.containerd.image.name, else the OCI
 * ref.name when it is a whole reference, else localhost/imported:<ref.name or short digest>. */
export function ociImageName(entry: Descriptor): string {
  const a = entry.annotations ?? {};
  const containerd = canonical(a['io.containerd.image.name']);
  if (containerd) return containerd;
  const refName = a['org.opencontainers.image.ref.name'];
  if (refName && namesRepository(refName)) {
    const full = canonical(refName);
    if (full) return full;
  }
  const tag = refName && isTag(refName) ? refName : shortDigest(entry.digest);
  return `${importedRepository}:${tag}`;
}

/** The names of an image in a docker save manifest.json: each RepoTag, normalised (docker
 * writes familiar names such as alpine:3.20); an untagged image is named after its image ID,
 * the short config digest `docker images` shows. A RepoTag that does not parse is returned as
 * `invalid`, so the caller can say which. */
export function dockerImageNames(
  repoTags: readonly string[],
  configDigest: string,
): { names: string[]; invalid?: string } {
  const names: string[] = [];
  for (const t of repoTags) {
    const name = canonical(t);
    if (!name) return { names, invalid: t };
    if (!names.includes(name)) names.push(name);
  }
  if (names.length === 0) names.push(`${importedRepository}:${shortDigest(configDigest)}`);
  return { names };
}
