// Reading the documents attestations carry: SBOMs made by Berth's own export, in-toto
// statements following the in-toto and SLSA specs' examples, DSSE envelopes signed with
// openssl, cosign simple-signing payloads, and what is none of these.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBase64, parseDocument } from '../../src/lib/attest/parse.ts';
import { toCycloneDX } from '../../src/lib/sbom/cyclonedx.ts';
import { toSpdx } from '../../src/lib/sbom/spdx.ts';
import { sampleInventory, subject } from './sbom-helpers.ts';

const enc = new TextEncoder();
const json = (v: unknown, indent?: number) => enc.encode(JSON.stringify(v, null, indent));
const parse = (bytes: Uint8Array, mediaType = 'application/json', hint?: string) =>
  parseDocument(bytes, hint ? { mediaType, hint } : { mediaType });
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');

const imageDigest = { sha256: 'ab'.repeat(32) };
const statement = (
  predicateType: string,
  predicate: unknown,
  type = 'https://in-toto.io/Statement/v1',
) => ({
  _type: type,
  subject: [{ name: 'docker.io/library/debian', digest: imageDigest }],
  predicateType,
  predicate,
});

// DSSE: the signature is over PAE(payloadType, payload) (the DSSE protocol), made with openssl.
const dir = mkdtempSync(join(tmpdir(), 'berth-dsse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = join(dir, 'key.pem');
execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
function dsse(payloadType: string, payload: Uint8Array, keyid = 'test-key') {
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.byteLength} `),
    Buffer.from(payload),
  ]);
  const paeFile = join(dir, 'pae');
  writeFileSync(paeFile, pae);
  const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', key, paeFile]);
  return { payloadType, payload: b64(payload), signatures: [{ keyid, sig: b64(sig) }] };
}

describe('SBOMs', () => {
  it("reads Berth's own SPDX export: one row per package, purls and licences", () => {
    const doc = parse(json(toSpdx(sampleInventory(), subject)), 'application/spdx+json');
    expect(doc.summary).toMatchObject({
      kind: 'spdx',
      version: '2.3',
      title: 'docker.io/library/debian:12',
      problems: [],
    });
    // The image, the operating system, and the nine packages.
    expect(doc.summary.rows).toBe(11);
    expect(doc.rows[0]).toMatchObject({
      name: 'docker.io/library/debian',
      type: 'CONTAINER',
      version: subject.digest,
    });
    expect(doc.rows.find((r) => r.name === 'curl')).toEqual({
      name: 'curl',
      version: '7.88.1-10+deb12u5',
      purl: 'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12',
      license: 'curl',
      type: 'LIBRARY',
    });
    expect(doc.rows.find((r) => r.name === 'bash')?.license).toBe('LicenseRef-GPLv3');
    expect(doc.summary.facts).toContainEqual(['Creators', 'Tool: Berth-0.1.0']);
    // Compact JSON is pretty-printed for the raw view.
    expect(doc.text()).toMatch(/^\{\n {2}"spdxVersion": "SPDX-2.3"/);
  });

  it("reads Berth's own CycloneDX export, groups joined to names", () => {
    const bom = toCycloneDX(sampleInventory(), subject);
    const doc = parse(json(bom, 2), 'application/vnd.cyclonedx+json');
    expect(doc.summary).toMatchObject({
      kind: 'cyclonedx',
      version: '1.6',
      title: 'docker.io/library/debian',
      rows: 10,
      problems: [],
    });
    expect(doc.rows.map((r) => r.name)).toContain('@babel/core');
    expect(doc.rows.map((r) => r.name)).toContain('org.apache.commons:commons-lang3');
    expect(doc.rows.find((r) => r.name === 'libc6')).toMatchObject({
      license: 'GPL-2.0+ OR LGPL-2.1',
      type: 'library',
    });
    expect(doc.summary.facts).toContainEqual(['Tools', 'Berth 0.1.0']);
    // Already laid out: the text is the document as it is.
    expect(doc.text()).toBe(JSON.stringify(bom, null, 2));
  });

  it('reads nested CycloneDX components and 1.2-style tool lists, and says what it skipped', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.2',
      metadata: { tools: [{ vendor: 'anchore', name: 'syft', version: '0.1' }] },
      components: [
        {
          type: 'application',
          name: 'app',
          components: [{ type: 'library', name: 'inner', version: '1' }],
        },
        { type: 'library', version: 'no name' },
        'not a component',
      ],
    };
    const doc = parse(json(bom));
    expect(doc.rows.map((r) => r.name).sort()).toEqual(['app', 'inner']);
    expect(doc.summary.problems).toEqual(['1 component has no name']);
    expect(doc.summary.facts).toContainEqual(['Tools', 'anchore syft 0.1']);
  });

  it('reads SPDX tag-value', () => {
    const tv = [
      'SPDXVersion: SPDX-2.3',
      'DataLicense: CC0-1.0',
      'DocumentName: example',
      'Creator: Tool: example-1.0',
      'Created: 2026-01-01T00:00:00Z',
      '',
      'PackageName: zlib',
      'PackageVersion: 1.3',
      'PackageLicenseDeclared: Zlib',
      'ExternalRef: PACKAGE-MANAGER purl pkg:deb/debian/zlib1g@1.3',
      'PackageComment: <text>several',
      'lines: not a tag</text>',
      'PackageName: openssl',
      'PackageLicenseDeclared: NOASSERTION',
    ].join('\n');
    const doc = parse(enc.encode(tv), 'text/spdx');
    expect(doc.summary).toMatchObject({ kind: 'spdx', version: '2.3', title: 'example', rows: 2 });
    expect(doc.rows).toEqual([
      { name: 'zlib', version: '1.3', license: 'Zlib', purl: 'pkg:deb/debian/zlib1g@1.3' },
      { name: 'openssl' },
    ]);
  });
});

describe('in-toto statements and SLSA provenance', () => {
  // The SLSA v1 spec's example for GitHub Actions workflows (slsa.dev/spec/v1.0/provenance).
  const v1 = statement('https://slsa.dev/provenance/v1', {
    buildDefinition: {
      buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
      externalParameters: {
        workflow: {
          ref: 'refs/heads/main',
          repository: 'https://github.com/octocat/hello-world',
          path: '.github/workflow/release.yml',
        },
        inputs: { flag: true },
      },
      internalParameters: { github: { event_name: 'workflow_dispatch' } },
      resolvedDependencies: [
        {
          uri: 'git+https://github.com/octocat/hello-world@refs/heads/main',
          digest: { gitCommit: 'c27d339ee6075c1f744c5d4b200f7901aad2c369' },
        },
        { uri: 'https://github.com/actions/virtual-environments/releases/tag/ubuntu20/20220515.1' },
      ],
    },
    runDetails: {
      builder: {
        id: 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v1.2.0',
      },
      metadata: {
        invocationId: 'https://github.com/octocat/hello-world/actions/runs/1536140711/attempts/1',
        startedOn: '2023-01-01T12:34:56Z',
      },
    },
  });

  it('reads SLSA v1: builder, source with its commit, materials, flattened parameters', () => {
    const doc = parse(json(v1), 'application/vnd.in-toto+json');
    expect(doc.summary).toMatchObject({
      kind: 'slsa-provenance',
      version: '1',
      statement: {
        predicateType: 'https://slsa.dev/provenance/v1',
        subjects: [{ name: 'docker.io/library/debian', digest: imageDigest }],
      },
      problems: [],
    });
    expect(doc.summary.provenance).toEqual({
      slsaVersion: '1',
      builder:
        'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v1.2.0',
      buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
      source: {
        uri: 'git+https://github.com/octocat/hello-world@refs/heads/main',
        digest: { gitCommit: 'c27d339ee6075c1f744c5d4b200f7901aad2c369' },
      },
      materials: [
        {
          uri: 'git+https://github.com/octocat/hello-world@refs/heads/main',
          digest: { gitCommit: 'c27d339ee6075c1f744c5d4b200f7901aad2c369' },
        },
        { uri: 'https://github.com/actions/virtual-environments/releases/tag/ubuntu20/20220515.1' },
      ],
      parameters: [
        ['workflow.ref', 'refs/heads/main'],
        ['workflow.repository', 'https://github.com/octocat/hello-world'],
        ['workflow.path', '.github/workflow/release.yml'],
        ['inputs.flag', 'true'],
      ],
      invocationId: 'https://github.com/octocat/hello-world/actions/runs/1536140711/attempts/1',
      startedOn: '2023-01-01T12:34:56Z',
    });
  });

  it('reads SLSA v0.2 as BuildKit writes it', () => {
    const v02 = statement(
      'https://slsa.dev/provenance/v0.2',
      {
        builder: { id: 'https://github.com/docker/buildx' },
        buildType: 'https://mobyproject.org/buildkit@v1',
        materials: [
          {
            uri: 'pkg:docker/debian@12?platform=linux%2Famd64',
            digest: { sha256: 'cd'.repeat(32) },
          },
        ],
        invocation: {
          configSource: {
            uri: 'https://github.com/o/r.git#main',
            digest: { sha1: 'a'.repeat(40) },
            entryPoint: 'Dockerfile',
          },
          parameters: {
            frontend: 'dockerfile.v0',
            args: { 'build-arg:VERSION': '1.2' },
            locals: [{ name: 'context' }],
          },
        },
        metadata: {
          buildInvocationId: 'inv-1',
          buildStartedOn: '2026-01-01T00:00:00Z',
          buildFinishedOn: '2026-01-01T00:01:00Z',
        },
      },
      'https://in-toto.io/Statement/v0.1',
    );
    const doc = parse(json(v02));
    expect(doc.summary.kind).toBe('slsa-provenance');
    expect(doc.summary.provenance).toMatchObject({
      slsaVersion: '0.2',
      builder: 'https://github.com/docker/buildx',
      source: { uri: 'https://github.com/o/r.git#main', digest: { sha1: 'a'.repeat(40) } },
      materials: [{ uri: 'pkg:docker/debian@12?platform=linux%2Famd64' }],
      parameters: [
        ['frontend', 'dockerfile.v0'],
        ['args.build-arg:VERSION', '1.2'],
        ['locals[0].name', 'context'],
      ],
      invocationId: 'inv-1',
      finishedOn: '2026-01-01T00:01:00Z',
    });
    expect(doc.summary.facts).toContainEqual(['Builder', 'https://github.com/docker/buildx']);
  });

  it('reads an SBOM inside a statement, and a statement of an unknown predicate', () => {
    const spdx = parse(
      json(statement('https://spdx.dev/Document', toSpdx(sampleInventory(), subject))),
    );
    expect(spdx.summary).toMatchObject({
      kind: 'spdx',
      rows: 11,
      statement: { predicateType: 'https://spdx.dev/Document' },
    });
    const cdx = parse(
      json(statement('https://cyclonedx.org/bom/v1.6', toCycloneDX(sampleInventory(), subject))),
    );
    expect(cdx.summary).toMatchObject({ kind: 'cyclonedx', rows: 10 });
    const vuln = parse(
      json(statement('https://cosign.sigstore.dev/attestation/vuln/v1', { scanner: { uri: 'x' } })),
    );
    expect(vuln.summary).toMatchObject({
      kind: 'in-toto',
      title: 'https://cosign.sigstore.dev/attestation/vuln/v1',
      rows: 0,
      problems: [],
    });
    // cosign's older predicates carry the document as a string.
    const wrapped = parse(
      json(
        statement('https://spdx.dev/Document', {
          Data: JSON.stringify(toSpdx(sampleInventory(), subject)),
          Timestamp: 'x',
        }),
      ),
    );
    expect(wrapped.summary).toMatchObject({ kind: 'spdx', rows: 11 });
  });

  it('says when a statement is not what it claims', () => {
    const liar = parse(json(statement('https://spdx.dev/Document', { hello: 'world' })));
    expect(liar.summary.kind).toBe('in-toto');
    expect(liar.summary.problems).toEqual([
      'the predicate is not the https://spdx.dev/Document document it says it is',
    ]);
    const bare = parse(
      json({ _type: 'https://in-toto.io/Statement/v1', subject: 'x', predicateType: 7 }),
    );
    expect(bare.summary.problems).toEqual([
      'the statement has no predicateType',
      'the statement has no subject list',
      'the statement names no subject',
      'the statement has no predicate',
    ]);
    const noBuilder = parse(
      json(statement('https://slsa.dev/provenance/v1', { buildDefinition: {} })),
    );
    expect(noBuilder.summary.problems).toEqual(['the provenance names no builder']);
  });
});

describe('DSSE envelopes', () => {
  it('opens an openssl-signed envelope: the statement inside, key ids, the payload decoded', () => {
    const payload = json(
      statement('https://spdx.dev/Document', toSpdx(sampleInventory(), subject)),
    );
    const envelope = dsse('application/vnd.in-toto+json', payload, 'SHA256:abc');
    const doc = parse(json(envelope), 'application/vnd.dsse.envelope.v1+json');
    expect(doc.summary).toMatchObject({
      kind: 'spdx',
      rows: 11,
      envelope: { payloadType: 'application/vnd.in-toto+json', keyids: ['SHA256:abc'] },
      statement: { predicateType: 'https://spdx.dev/Document' },
      problems: [],
    });
    // The raw view shows the payload decoded, pretty-printed.
    expect(JSON.parse(doc.text()!)).toEqual(JSON.parse(new TextDecoder().decode(payload)));
    expect(doc.text()).toContain('\n  "_type": "https://in-toto.io/Statement/v1"');
    // The signature is real: openssl verifies it over PAE (the DSSE protocol).
    const pub = join(dir, 'pub.pem');
    execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', pub], { stdio: 'ignore' });
    writeFileSync(join(dir, 'sig'), Buffer.from(envelope.signatures[0]!.sig, 'base64'));
    const out = execFileSync('openssl', [
      'dgst',
      '-sha256',
      '-verify',
      pub,
      '-signature',
      join(dir, 'sig'),
      join(dir, 'pae'),
    ]);
    expect(out.toString()).toContain('Verified OK');
    expect(readFileSync(join(dir, 'pae')).subarray(0, 6).toString()).toBe('DSSEv1');
  });

  it('reads URL-safe base64, and tells a payload that is not JSON or not base64', () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xfe, 0x00, 0x41]);
    const urlSafe = b64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(decodeBase64(urlSafe)).toEqual(bytes);
    expect(decodeBase64('not base64!')).toBeUndefined();

    const text = parse(json(dsse('text/plain', enc.encode('hello'))));
    expect(text.summary).toMatchObject({
      kind: 'dsse',
      envelope: { payloadType: 'text/plain' },
      problems: [],
    });
    expect(text.text()).toBe('hello');
    const broken = parse(
      json({ payloadType: 'application/vnd.in-toto+json', payload: '%%%', signatures: [] }),
    );
    expect(broken.summary).toMatchObject({ kind: 'dsse', problems: ['the payload is not base64'] });
    const notJson = parse(json(dsse('application/vnd.in-toto+json', enc.encode('{oops'))));
    expect(notJson.summary.problems).toEqual(['the payload is not valid JSON']);
    const binaryPayload = parse(
      json(dsse('application/octet-stream', new Uint8Array([0xff, 0xfe]))),
    );
    expect(binaryPayload.summary.problems).toEqual(['the payload (2 bytes) is not UTF-8 text']);
  });
});

describe('signing payloads and the rest', () => {
  it('reads a cosign simple-signing payload with its annotations', () => {
    const payload = {
      critical: {
        identity: { 'docker-reference': 'registry.test/app' },
        image: { 'docker-manifest-digest': `sha256:${'ab'.repeat(32)}` },
        type: 'cosign container image signature',
      },
      optional: { creator: 'me', n: 1 },
    };
    const doc = parse(json(payload), 'application/vnd.dev.cosign.simplesigning.v1+json');
    expect(doc.summary).toMatchObject({ kind: 'cosign-simplesigning', problems: [] });
    expect(doc.summary.facts).toEqual([
      ['Image digest', `sha256:${'ab'.repeat(32)}`],
      ['Identity', 'registry.test/app'],
      ['Type', 'cosign container image signature'],
      ['Annotation creator', 'me'],
      ['Annotation n', '1'],
    ]);
  });

  it('gives other JSON, text, bad JSON and binary a summary', () => {
    expect(parse(json({ a: 1, b: [2] })).summary).toMatchObject({
      kind: 'json',
      facts: [
        ['Size', '15 bytes'],
        ['Top-level keys', 'a, b'],
      ],
    });
    expect(parse(json([1, 2, 3])).summary.facts).toContainEqual(['Top level', 'an array of 3']);
    const text = parse(enc.encode('line one\nline two\n'), 'text/plain');
    expect(text.summary).toMatchObject({
      kind: 'text',
      facts: [
        ['Size', '18 bytes'],
        ['Lines', '3'],
      ],
    });
    const bad = parse(enc.encode('{"a": '));
    expect(bad.summary.kind).toBe('text');
    expect(bad.summary.problems[0]).toMatch(/^not valid JSON/);
    const bin = parse(new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff]), 'application/octet-stream');
    expect(bin.summary).toMatchObject({
      kind: 'binary',
      facts: [
        ['Size', '5 bytes'],
        ['Starts with', '1f 8b 08 00 ff'],
      ],
    });
    expect(bin.text()).toBeUndefined();
    // Not UTF-8 (a lone continuation byte) is binary too.
    expect(parse(new Uint8Array([0x41, 0x80, 0x41])).summary.kind).toBe('binary');
  });

  it('survives hostile JSON: wrong types everywhere, deep nesting', () => {
    const hostile = {
      bomFormat: 'CycloneDX',
      specVersion: 5,
      metadata: { tools: 'x', component: { name: 7 } },
      components: [
        { name: { x: 1 }, version: [], licenses: [null, { license: 'MIT' }, { expression: 3 }] },
      ],
    };
    const doc = parse(json(hostile));
    expect(doc.summary).toMatchObject({
      kind: 'cyclonedx',
      rows: 0,
      problems: ['1 component has no name'],
    });
    // Built as text: JSON.stringify itself recurses.
    const depth = 5000;
    const open = Array.from(
      { length: depth },
      (_, i) => `{"type":"library","name":"n${i}","components":[`,
    ).join('');
    const text = `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[${open}{"name":"bottom"}${']}'.repeat(depth)}]}`;
    const nested = parse(enc.encode(text));
    expect(nested.summary.rows).toBe(5001);
    // Too deep to pretty-print: the raw view shows the text as it came.
    expect(nested.text()).toBe(text);
    // Build parameters nested as deep are cut, not a stack overflow.
    const params = `{"a":`.repeat(depth) + '1' + '}'.repeat(depth);
    const prov = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"externalParameters":${params}},"runDetails":{"builder":{"id":"b"}}}}`;
    const deepProv = parse(enc.encode(prov));
    expect(deepProv.summary.provenance?.parameters).toHaveLength(1);
    expect(deepProv.summary.provenance?.parameters[0]![0]).toMatch(/^(a\.){31}a$/);
  });
});
