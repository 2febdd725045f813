// The OCI image and distribution data model, shared by every module. Docker schema2 documents
// have the same shape and are represented by the same types.

/** A digest string, `<algorithm>:<hex>`, validated by parseDigest before use as a key or URL. */
export type Digest = string;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

/** A descriptor points at content by digest, size and media type. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** Docker's HEALTHCHECK. Durations are in nanoseconds; 0 or absent means inherit. */
export interface Healthcheck {
  /** `[]` inherits, `["NONE"]` disables, `["CMD", args…]` or `["CMD-SHELL", command]` runs. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  /** Consecutive failures before the container is unhealthy; 0 inherits. */
  Retries?: number;
}

/** The image configuration: runtime defaults plus the rootfs diffIDs, one per layer. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
    /** Docker's only (the OCI spec has no healthcheck); the validator does not check it. */
    Healthcheck?: Healthcheck | null;
    /** Docker's SHELL: the shell RUN steps in shell form run with. */
    Shell?: string[] | null;
    /** Docker's ONBUILD: build steps for images built FROM this one. */
    OnBuild?: string[] | null;
    /** Deprecated, for Windows: Cmd or Entrypoint is one command line already escaped. */
    ArgsEscaped?: boolean;
  };
  rootfs: { type: string; diff_ids: Digest[] };
  history?: HistoryEntry[];
}
