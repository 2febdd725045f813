// What is attached to a stored image, in the images worker: finding and storing its referrers
// (lib/images/attached.ts), fetching a big blob of one when it is opened, and verifying its
// signatures. Verification runs here, off the page's thread; keys and trust roots come with each
// call and are not kept.
import {
  type AttachedListing,
  fetchReferrerBlob,
  findReferrers,
  storedReferrers,
} from '../../lib/images/attached.ts';
import { Documents } from '../../lib/images/documents.ts';
import { formatReference, parseReference } from '../../lib/reference/reference.ts';
import type { Connection } from '../../lib/registry/transport.ts';
import { readSignatures } from '../../lib/signatures/found.ts';
import type { VerificationResult } from '../../lib/signatures/types.ts';
import {
  parseTrustedRoot,
  verifyCosignKey,
  verifyCosignKeyless,
  verifyNotation,
} from '../../lib/signatures/verify.ts';
import { shippedTrustRoot } from '../../lib/signatures/trustroot.ts';
import { messageOf } from '../../lib/errors.ts';
import type { CallContext } from '../rpc.ts';
import { store } from '../store.ts';
import { client, loadRemembered } from './credentials.ts';

export type { AttachedListing };

/** How to verify a signature, with what the user trusts. */
export type VerifyMethod =
  | { scheme: 'cosign-key'; publicKey: string }
  | {
      scheme: 'cosign-keyless';
      /** A trusted_root.json the user imported; the shipped one otherwise. */
      trustedRoot?: string;
      identity?: string;
      identityRegExp?: boolean;
      issuer?: string;
    }
  | { scheme: 'notation'; trustRoots: string[] };

/** What is attached to a stored image: asked of the registry when `online` (and stored), else
 * read from the store alone. */
export async function attached(
  arg: { name: string; connection: Connection; online: boolean },
  ctx: CallContext,
): Promise<AttachedListing> {
  const s = await store();
  const name = formatReference(parseReference(arg.name));
  if (!arg.online) return { referrers: await storedReferrers(s, name), flagged: [] };
  await loadRemembered();
  return findReferrers({ client: client(arg.connection), store: s, signal: ctx.signal }, name);
}

/** Bytes of a referrer's blob received so far, while it downloads. */
export interface BlobFetchEvent {
  type: 'progress';
  offset: number;
  size: number;
}

/** Fetches a blob of a stored referrer left for when it is opened (bounded in size). */
export async function fetchAttachedBlob(
  arg: { name: string; referrer: string; blob: string; connection: Connection },
  ctx: CallContext<BlobFetchEvent>,
): Promise<void> {
  await loadRemembered();
  const name = formatReference(parseReference(arg.name));
  await fetchReferrerBlob(
    {
      client: client(arg.connection),
      store: await store(),
      signal: ctx.signal,
      onProgress: (p) => ctx.emit({ type: 'progress', offset: p.offset, size: p.size }),
    },
    name,
    arg.referrer,
    arg.blob,
  );
}

/** Verifies every signature a stored referrer carries; one result per signature. A referrer
 * that carries none gets one failed result saying so. */
export async function verifySignature(arg: {
  name: string;
  referrer: string;
  method: VerifyMethod;
}): Promise<VerificationResult[]> {
  const s = await store();
  const name = formatReference(parseReference(arg.name));
  const image = await s.images.get(name);
  const record = image?.referrers?.find((r) => r.descriptor.digest === arg.referrer);
  const failed = (error: string): VerificationResult[] => [
    { scheme: arg.method.scheme, verified: false, checks: [], notChecked: [], error },
  ];
  if (!record) return failed(`${arg.referrer} is not stored for ${name}.`);
  const manifest = await new Documents(s.content).manifest(record.descriptor);
  let found;
  try {
    found = await readSignatures(
      manifest,
      record.descriptor.digest,
      record.via === 'cosign-tag' ? 'tag' : 'referrer',
      async (d) => {
        if (!(await s.content.info(d.digest))) {
          throw new Error(`${d.digest} (${d.size} bytes) is not stored; open it first`);
        }
        return s.content.readBytes(d.digest);
      },
    );
  } catch (e) {
    return failed(`The signature could not be read: ${messageOf(e)}`);
  }
  if (found.length === 0) return failed('This referrer carries no signature.');
  const subject = {
    digest: record.subject,
    repository: `${parseReference(name).registry}/${parseReference(name).repository}`,
  };
  const m = arg.method;
  const results: VerificationResult[] = [];
  for (const sig of found) {
    try {
      if (m.scheme === 'cosign-key') {
        results.push(await verifyCosignKey(sig, m.publicKey, subject));
      } else if (m.scheme === 'cosign-keyless') {
        // The shipped root (Sigstore's public-good instance) unless the user imported one.
        const root = m.trustedRoot ? parseTrustedRoot(m.trustedRoot) : shippedTrustRoot();
        results.push(
          await verifyCosignKeyless(sig, root, subject, {
            ...(m.identity ? { identity: m.identity } : {}),
            ...(m.identityRegExp ? { identityRegExp: true } : {}),
            ...(m.issuer ? { issuer: m.issuer } : {}),
          }),
        );
      } else {
        results.push(await verifyNotation(sig, m.trustRoots, subject));
      }
    } catch (e) {
      results.push(...failed(`Verification could not run: ${messageOf(e)}`));
    }
  }
  return results;
}
