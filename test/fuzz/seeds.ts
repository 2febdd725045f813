// Real inputs the fuzz targets start from, built at run time with the real tools (GNU tar,
// busybox tar, gzip, zstd, umoci, skopeo) from real files: mutations of real inputs reach much
// deeper into a parser than random bytes do. Built once per process into a temporary directory.
import { execFile } from 'node:child_process';
import { link, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Seeds {
  /** Uncompressed tars in every format GNU tar and busybox write. */
  tars: Uint8Array[];
  gzip: Uint8Array[];
  zstd: Uint8Array[];
  manifests: Uint8Array[];
  indexes: Uint8Array[];
  configs: Uint8Array[];
  /** oci-archive and docker-archive (docker save) tars made by skopeo. */
  archives: Uint8Array[];
  references: string[];
  challenges: string[];
  links: string[];
  proxyPaths: string[];
}

async function run(cmd: string, args: string[], cwd?: string): Promise<Uint8Array> {
  const { stdout } = await exec(cmd, args, {
    ...(cwd ? { cwd } : {}),
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return new Uint8Array(stdout);
}

async function pipe(cmd: string, args: string[], input: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, out) =>
      err ? reject(err) : resolve(new Uint8Array(out)),
    );
    child.stdin!.end(input);
  });
}

/** A small tree of real files with the shapes tar has formats for: a long name (PAX, GNU
 * longlink), a long link target, a hard link, a symlink, a non-UTF-8 name, an empty file. */
async function tree(root: string) {
  const real = await readFile('/etc/os-release');
  await mkdir(join(root, 'd/sub'), { recursive: true });
  await writeFile(join(root, 'd/os-release'), real);
  await writeFile(join(root, 'd/sub/empty'), '');
  const long = 'n'.repeat(120);
  await writeFile(join(root, `d/${long}`), real.subarray(0, 100));
  await link(join(root, 'd/os-release'), join(root, 'd/hard'));
  await symlink('os-release', join(root, 'd/sym'));
  await symlink(`../${'t'.repeat(130)}`, join(root, 'd/longlink'));
  await writeFile(Buffer.from(join(root, 'd/bad-\xff'), 'latin1'), 'x');
  await writeFile(join(root, 'd/.wh.gone'), '');
}

const references = [
  'alpine',
  'alpine:3.20',
  'library/alpine:latest',
  'docker.io/library/alpine',
  'index.docker.io/library/busybox:1.36',
  'ghcr.io/owner/repo/sub:v1.2.3',
  'localhost:5000/a/b_c__d-e.f:tag',
  'registry.example.com:443/team/app@sha256:' + 'ab'.repeat(32),
  'quay.io/prometheus/node-exporter:v1.8.0@sha256:' + '0f'.repeat(32),
  '[::1]:5000/x:y',
  '127.0.0.1:5000/repo',
  'Docker/docker',
  'us-docker.pkg.dev/p/r/i:t',
];

// Real challenges, from the captures in the registry notes (Docker Hub, GHCR, Quay, gcr.io with
// its unquoted service, Artifact Registry, Harbor, ECR) and RFC 9110's examples.
const challenges = [
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:x:pull",error="insufficient_scope"',
  'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"',
  'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
  'Bearer realm="https://gcr.io/v2/token",service=gcr.io',
  'Bearer realm="https://us-docker.pkg.dev/v2/token"',
  'Bearer realm="http://h/service/token",service="harbor-registry"',
  'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"',
  'Basic realm="simple", Newauth realm="apps", type=1, title="Login to \\"apps\\""',
  'Negotiate, Bearer realm="a,b", Basic realm="x"',
  'Newauth abc==, Basic realm=x',
];

const links = [
  '</v2/keycloak/keycloak/tags/list?n=100&last=23.0.4-0>; rel="next"',
  '</v2/invisionag/yet-another-cloudwatch-exporter/tags/list?next_page=gAAAAABg1i7j%3D&n=50>; rel="next"',
  '</v2/ubi8/ubi-minimal/tags/list?n=100&last=8.7-1031-source>; rel="next"',
  '<https://registry-1.docker.io/v2/library/a/tags/list?last=LONGSTRING>; rel="next"',
  '<https://other.example/v2/library/a/tags/list>; rel=next, </v2/library/a/tags/list?n=1>; rel="prev"',
  '</v2/library/a/referrers/sha256:' + 'ab'.repeat(32) + '?n=1>; rel="next"; type="x"',
];

const proxyPaths = [
  '/proxy/registry-1.docker.io/v2/',
  '/proxy/registry-1.docker.io/v2/library/alpine/manifests/latest',
  '/proxy/ghcr.io/v2/owner/repo/blobs/sha256:' + 'ab'.repeat(32),
  '/proxy/localhost:5000/v2/a/tags/list?n=100&last=x',
  '/proxy/[::1]:5000/v2/_catalog',
  '/proxy/127.0.0.1/v2/a/b/manifests/sha256:' + '01'.repeat(32),
  '/proxy/auth.docker.io/token?service=registry.docker.io&scope=repository:library/a:pull',
  '/proxy/example.com/v2/a%2Db/manifests/t',
];

let built: Promise<Seeds> | undefined;

/** The seeds, built on first use. */
export function seeds(): Promise<Seeds> {
  return (built ??= build());
}

async function build(): Promise<Seeds> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-fuzz-seeds-'));
  try {
    const root = join(dir, 'root');
    await mkdir(root);
    await tree(root);
    const tars: Uint8Array[] = [];
    for (const format of ['gnu', 'posix', 'ustar', 'v7', 'oldgnu']) {
      // ustar and v7 cannot hold the long names: archive only what they can.
      const what =
        format === 'ustar' || format === 'v7' ? ['d/os-release', 'd/sym', 'd/hard'] : ['d'];
      tars.push(
        await run(
          'tar',
          [
            '-c',
            `--format=${format}`,
            '--sort=name',
            // base-256 uids where the format has them
            `--owner=name:${format === 'ustar' || format === 'v7' ? 1000 : 3000000}`,
            '--mtime=@1700000000.5',
            ...what,
          ],
          root,
        ),
      );
    }
    tars.push(
      await run(
        'tar',
        ['-c', '--format=posix', '--pax-option=globexthdr.name=g,x=y', 'd/sym'],
        root,
      ),
    );
    tars.push(await run('tar', ['-c', '--format=gnu', '--label=LBL', 'd/os-release'], root));
    tars.push(await run('busybox', ['tar', '-c', 'd'], root));
    // A sparse file (GNU old sparse and PAX 1.0).
    await exec('truncate', ['-s', '1M', join(dir, 'sparse')]);
    await writeFile(join(dir, 'sparse'), 'data', { flag: 'r+' });
    tars.push(await run('tar', ['-c', '--sparse', '--format=gnu', 'sparse'], dir));
    tars.push(await run('tar', ['-c', '--sparse', '--format=posix', 'sparse'], dir));

    const small = tars[0]!;
    const gzip = [
      await pipe('gzip', ['-c', '-9', '-n'], small),
      await pipe('gzip', ['-c', '-1'], tars[1]!), // with a name and mtime in the header
      // Two members: what pigz and concatenated layers make.
      new Uint8Array([
        ...(await pipe('gzip', ['-c'], small.subarray(0, 700))),
        ...(await pipe('gzip', ['-c'], small.subarray(700))),
      ]),
    ];
    const zstd = [
      await pipe('zstd', ['-c', '-q', '-3'], small),
      await pipe('zstd', ['-c', '-q', '-19', '--check'], tars[1]!),
      await pipe('zstd', ['-c', '-q', '--no-check', '--long=27'], small),
      await pipe('zstd', ['-c', '-q', '--no-content-size', '-B1024'], small),
    ];

    // A real OCI layout from umoci, and skopeo's archives of it.
    const layout = join(dir, 'layout');
    await exec('umoci', ['init', '--layout', layout]);
    await exec('umoci', ['new', '--image', `${layout}:t`]);
    await exec('umoci', [
      'insert',
      '--image',
      `${layout}:t`,
      join(root, 'd/os-release'),
      '/etc/os-release',
    ]);
    await exec('umoci', [
      'config',
      '--image',
      `${layout}:t`,
      '--config.env=A=1',
      '--config.label=k=v',
      '--config.cmd=/bin/sh',
    ]);
    const blobs = join(layout, 'blobs/sha256');
    const manifests: Uint8Array[] = [];
    const configs: Uint8Array[] = [];
    for (const name of await readdir(blobs)) {
      const bytes = new Uint8Array(await readFile(join(blobs, name)));
      if (bytes[0] !== 0x7b) continue;
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      if ('layers' in doc) manifests.push(bytes);
      else if ('rootfs' in doc) configs.push(bytes);
    }
    const indexes = [new Uint8Array(await readFile(join(layout, 'index.json')))];
    const archives: Uint8Array[] = [];
    for (const transport of ['oci-archive', 'docker-archive']) {
      const file = join(dir, `${transport}.tar`);
      await exec('skopeo', ['copy', `oci:${layout}:t`, `${transport}:${file}:example.com/a/b:v1`]);
      archives.push(new Uint8Array(await readFile(file)));
    }
    return {
      tars,
      gzip,
      zstd,
      manifests,
      indexes,
      configs,
      archives,
      references,
      challenges,
      links,
      proxyPaths,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
