// A layer blob in, its uncompressed tar stream out, one bounded step per read.
//
// Everything here is pull-driven: nothing is read from the input until the consumer reads, and
// no more input is read while decoded output is still waiting. A viewer that stops reading a gzip
// bomb therefore stops the decoder. Each step is also bounded in size (see the PIECE constants),
// because one small push into a decoder can otherwise expand a thousandfold or more.
//
// Output chunks are fresh buffers or views into them (check byteOffset); this module never
// touches a chunk again once it has been handed out, so the consumer may keep or transfer it.
//
// Integrity: both gzip decoders here check every member's CRC-32 and size (and its header CRC
// and flags, as gzip does), and zstd frames are checked against their content checksum when they
// carry one, and against their declared content size. A zstd frame without a checksum can decode
// corrupt data to wrong bytes, as zstd itself does; the layer's diffID catches that. Every decode
// stops at MAX_LAYER_SIZE and past MAX_RATIO, with an error that names the cap. A check fails at the end of its
// member or frame, after that member's bytes were delivered, so an errored stream must be
// discarded whole. Errors from the input stream itself (a Blob that can no longer be read) pass
// through unchanged, so callers can tell a storage failure from corrupt data.
import { Gunzip, type GunzipStreamOptions } from 'fflate';
import { Decompress as ZstdDecoder } from 'fzstd';
import { createCRC32, createXXHash64, type IHasher } from 'hash-wasm';
import { messageOf } from '../errors.ts';
import { yielder } from '../tasks.ts';
import type { Compression } from '../oci/mediatypes.ts';
import type { CheckpointRecorder } from './checkpoints.ts';

/** The compressed data is corrupt, truncated or of a form this module refuses. */
export class DecompressError extends Error {
  override readonly name = 'DecompressError';
  constructor(
    readonly compression: 'gzip' | 'zstd',
    /** What is wrong, without the offsets. */
    readonly problem: string,
    /** Bytes of compressed input consumed when the problem was found, if known. */
    readonly compressedOffset?: number,
    /** Bytes of output decoded when the problem was found, if known. */
    readonly uncompressedOffset?: number,
    options?: ErrorOptions,
  ) {
    const at = [
      compressedOffset === undefined ? '' : `compressed offset ${compressedOffset}`,
      uncompressedOffset === undefined ? '' : `uncompressed offset ${uncompressedOffset}`,
    ].filter(Boolean);
    super(`${compression} layer: ${problem}${at.length ? ` (at ${at.join(', ')})` : ''}`, options);
  }
}

/** The layer's compression is not one this module can decode. */
export class UnsupportedCompressionError extends Error {
  override readonly name = 'UnsupportedCompressionError';
  constructor(readonly compression: string) {
    super(
      `Cannot decompress a layer with compression '${compression}': only gzip, zstd and ` +
        `uncompressed tar layers are supported (the media type is not a known layer type)`,
    );
  }
}

export interface DecompressOptions {
  /** Use the native DecompressionStream('gzip') when the runtime has it (default true). */
  native?: boolean;
  signal?: AbortSignal;
  /** The most uncompressed bytes a layer may decode to (default MAX_LAYER_SIZE). */
  maxSize?: number;
  /**
   * The most uncompressed bytes per compressed byte read, checked once the output passes
   * `ratioGrace` bytes (defaults MAX_RATIO and RATIO_GRACE).
   */
  maxRatio?: number;
  ratioGrace?: number;
  /**
   * Makes the native gzip decoder; defaults to `new DecompressionStream('gzip')`. For tests, which
   * pass one that fails the way Chromium's does on multi-member gzip.
   */
  nativeGunzip?: () => NativeGunzipPair;
  /**
   * Records random-access checkpoints while decoding (checkpoints.ts). A gzip layer is then
   * decoded with fflate, whose block boundaries are visible, rather than the native decoder.
   */
  checkpoints?: CheckpointRecorder | undefined;
  /**
   * gzip: the input starts at a deflate block boundary inside a member, `bit` bits into its
   * first byte, with `window` the member's output before it (a checkpoint). That member's
   * header and trailer were before the checkpoint and are not checked; later members are.
   */
  resume?: {
    window: Uint8Array;
    bit: number;
    /**
     * Lets the native decoder resume (see NativeResume): the last member's trailer starts `end`
     * bytes into the input, and its ISIZE (read only if the decoder gets there) says where the
     * layer's output ends (mod 2^32); the resumed output starts at `out` of the layer's.
     */
    last?: { end: number; out: number; isize: () => Promise<number | undefined> };
  };
  /**
   * Makes the native raw-deflate decoder a resume uses; defaults to
   * `new DecompressionStream('deflate-raw')`.
   */
  nativeInflateRaw?: () => NativeGunzipPair;
  /**
   * gzip with fflate: the most compressed bytes per push (default GZIP_PIECE_MAX). Larger
   * pushes cost far less CPU in Chromium, whose ArrayBuffers fflate allocates several of per
   * push, but one push may then expand to about 1032 times this: only for a decode whose
   * output is dropped as it comes (the checkpoint pass).
   */
  gzipPieceMax?: number;
}

/** What DecompressionStream('gzip') is, as far as this module cares. */
export interface NativeGunzipPair {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<BufferSource>;
}

/** The uncompressed bytes of a layer, as a stream. `open` returns a fresh stream of the
 * compressed blob each time it is called (a stored Blob's `stream()`), so the gzip fast path can
 * start over with fflate when the native decoder rejects a multi-member gzip. */
export function decompress(
  open: () => ReadableStream<Uint8Array>,
  compression: Compression,
  opts: DecompressOptions = {},
): ReadableStream<Uint8Array> {
  const { signal } = opts;
  const meter: Meter = {
    compression: compression === 'zstd' ? 'zstd' : 'gzip',
    in: 0,
    out: 0,
    maxSize: opts.maxSize ?? MAX_LAYER_SIZE,
    maxRatio: opts.maxRatio ?? MAX_RATIO,
    ratioGrace: opts.ratioGrace ?? RATIO_GRACE,
  };
  const counted = () => {
    const stream = open();
    return { stream, meter };
  };
  switch (compression) {
    case 'none':
      return output(() => new Passthrough(counted), signal);
    case 'gzip': {
      const factory =
        opts.nativeGunzip ??
        (typeof DecompressionStream === 'function' && (() => new DecompressionStream('gzip')));
      const raw =
        opts.nativeInflateRaw ??
        (typeof DecompressionStream === 'function' &&
          (() => new DecompressionStream('deflate-raw')));
      const { resume } = opts;
      if (opts.native !== false && raw && !opts.checkpoints && resume?.last) {
        const last = resume.last;
        const fallback = () => fflateGunzip(counted, { resume });
        return output(
          () => new WithFallback(new NativeResume(counted, raw, resume, last, signal), fallback),
          signal,
          meter,
        );
      }
      if (opts.native === false || !factory || opts.checkpoints || opts.resume) {
        const { checkpoints, resume, gzipPieceMax } = opts;
        return output(
          () => fflateGunzip(counted, { checkpoints, resume, pieceMax: gzipPieceMax }),
          signal,
          meter,
        );
      }
      return output(
        () =>
          new WithFallback(new NativeGunzip(counted, factory, signal), () => fflateGunzip(counted)),
        signal,
        meter,
      );
    }
    case 'zstd':
      return output(
        () => new SyncDecoder(counted, (emit) => zstdCodec(emit, opts.checkpoints)),
        signal,
        meter,
      );
    default:
      throw new UnsupportedCompressionError(compression);
  }
}

// One write into the native decoder. Chromium's decoder inflates a whole write at once, and its
// Blob.stream() yields chunks of up to 2 MiB, so a gzip bomb could otherwise expand to 2 GiB in
// one step; 16 KiB caps that at ~16 MiB and measured no slower than 64 KiB or whole chunks.
const NATIVE_PIECE = 16 * 1024;
// fflate inflates a whole push at once, up to ~1032x its size. Pieces adapt to aim at about
// TARGET_OUT bytes per push: the maximum for ordinary layers (fflate slows down by a tenth at
// 16 KiB and by half at 1 KiB in Node; in Chromium a 32 KiB push takes twice the CPU of a
// 256 KiB one, see DecompressOptions.gzipPieceMax), small once the data turns out to expand a lot.
const GZIP_PIECE_MIN = 1024;
const GZIP_PIECE_START = 4 * 1024;
const GZIP_PIECE_MAX = 32 * 1024;
const TARGET_OUT = 1024 * 1024;
// How much compressed input is kept to read a gzip member's trailer after fflate has moved on.
// fflate reports a member once its whole header is in, and the trailer sits just before that
// header; real headers are tens of bytes.
const TAIL_RETAIN = 256 * 1024;
// zstd's own default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT): larger windows need
// `zstd --long`/`--memory`, and fzstd would allocate the whole window up front.
const ZSTD_MAX_WINDOW = 2 ** 27;
const ZSTD_MAX_BLOCK = 128 * 1024;
// The windows a zstd stream's frames may declare in total: 1 GiB, plus 1 KiB per compressed
// byte. One frame (what zstd writes) or thousands of small ones (zstd:chunked) stay far
// below; a stream of 9-byte frames declaring 128 MiB each stops at the ninth.
const ZSTD_WINDOW_BUDGET = 1024 ** 3;
const ZSTD_WINDOW_PER_BYTE = 1024;
/** Berth's cap on a layer's uncompressed size: real layers reach tens of GiB, not this. */
export const MAX_LAYER_SIZE = 256 * 1024 ** 3;
/**
 * Berth's cap on uncompressed bytes per compressed byte, past the first RATIO_GRACE bytes. The
 * formats bound it already (deflate at 1032:1, zstd's RLE blocks at 32768:1, which a file of
 * zeros reaches), so this is a backstop above both, for the day a decoder's own bound slips.
 */
export const MAX_RATIO = 40_000;
export const RATIO_GRACE = 1024 ** 3;

/** Compressed bytes read and uncompressed bytes handed out, against the caps. */
interface Meter {
  readonly compression: 'gzip' | 'zstd';
  in: number;
  out: number;
  readonly maxSize: number;
  readonly maxRatio: number;
  readonly ratioGrace: number;
}

/** A fresh stream of the compressed input, and the meter its reads count on. */
type Open = () => { stream: ReadableStream<Uint8Array>; meter: Meter };

function checkCaps(m: Meter, added: number) {
  m.out += added;
  if (m.out > m.maxSize) {
    throw new DecompressError(
      m.compression,
      `the layer decompresses to more than ${m.maxSize} bytes, Berth's cap on a layer's ` +
        `uncompressed size`,
      m.in,
      m.out,
    );
  }
  if (m.out > m.ratioGrace && m.out > m.maxRatio * m.in) {
    throw new DecompressError(
      m.compression,
      `the layer expands more than ${m.maxRatio} times (${m.out} bytes from ${m.in}), Berth's ` +
        `cap on the compression ratio past the first ${m.ratioGrace} bytes`,
      m.in,
      m.out,
    );
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);
/** A whole gzip member of no data (as `gzip -n </dev/null` writes it), fed after the input to
 * find where its last member ends. */
const EMPTY_MEMBER = new Uint8Array([
  0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** A source of decoded chunks, read one at a time. */
interface Decoder {
  /** The next chunk of output, or null at the clean end. Throws on corrupt data. */
  read(): Promise<Uint8Array | null>;
  /** Stops decoding and cancels the input. Never rejects. */
  cancel(reason: unknown): Promise<void>;
}

/** The outer stream: opens the input lazily and turns aborts and cancels into input cancels. */
function output(
  make: () => Decoder,
  signal?: AbortSignal,
  meter?: Meter,
): ReadableStream<Uint8Array> {
  let decoder: Decoder | undefined;
  let settled = false;
  let onAbort = () => {};
  /** The output is done with: stop listening and, unless the input ended, cancel it. */
  const settle = (cancel: { reason: unknown } | undefined): Promise<void> => {
    settled = true;
    signal?.removeEventListener('abort', onAbort);
    return cancel && decoder ? decoder.cancel(cancel.reason) : Promise.resolve();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (!signal) return;
        onAbort = () => {
          if (settled) return;
          controller.error(signal.reason);
          void settle({ reason: signal.reason });
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      },
      async pull(controller) {
        if (settled) return;
        let chunk: Uint8Array | null;
        try {
          decoder ??= make();
          chunk = await decoder.read();
          if (chunk && meter) checkCaps(meter, chunk.length);
        } catch (e) {
          if (settled) return;
          void settle({ reason: e });
          throw e;
        }
        if (settled) return;
        if (chunk === null) {
          void settle(undefined);
          controller.close();
        } else {
          controller.enqueue(chunk);
        }
      },
      cancel(reason) {
        if (!settled) return settle({ reason });
      },
    },
    // Nothing is decoded ahead of a read: the consumer's reads are the only clock.
    { highWaterMark: 0 },
  );
}

/** The compressed input, handed out in pieces and counted. */
class Input {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #meter: Meter;
  #chunk: Uint8Array = EMPTY;
  /** Bytes handed out so far. */
  consumed = 0;
  /** Set when reading the input itself failed, as opposed to decoding it. */
  failure: { error: unknown } | undefined;

  constructor(open: Open) {
    const { stream, meter } = open();
    this.#reader = stream.getReader();
    this.#meter = meter;
  }

  /** The next at most `max` bytes of input, or null at its end. */
  async next(max = Infinity): Promise<Uint8Array | null> {
    while (this.#chunk.length === 0) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.#reader.read();
      } catch (error) {
        this.failure = { error };
        throw error;
      }
      if (r.done) return null;
      if (!(r.value instanceof Uint8Array)) {
        const error = new TypeError(`the compressed input yielded a ${typeof r.value}, not bytes`);
        this.failure = { error };
        throw error;
      }
      this.#chunk = r.value;
    }
    const piece = this.#chunk.length <= max ? this.#chunk : this.#chunk.subarray(0, max);
    this.#chunk = this.#chunk.subarray(piece.length);
    this.consumed += piece.length;
    // A second pass (the gzip fallback) reads the input again: count it once.
    this.#meter.in = Math.max(this.#meter.in, this.consumed);
    return piece;
  }

  cancel(reason: unknown): Promise<void> {
    return this.#reader.cancel(reason).catch(() => {});
  }
}

class Passthrough implements Decoder {
  readonly #input: Input;
  constructor(open: Open) {
    this.#input = new Input(open);
  }
  read() {
    return this.#input.next();
  }
  cancel(reason: unknown) {
    return this.#input.cancel(reason);
  }
}

/** A synchronous push decoder (fflate, fzstd) behind a uniform face. */
interface Codec {
  /** Decodes a prefix of `chunk` (at least one byte) and says how long it was. */
  feed(chunk: Uint8Array): number;
  /** The input has ended: flush, and throw if the data stopped short. */
  end(): void;
}

/** Runs a Codec one bounded piece at a time, and only when the output queue is empty. */
class SyncDecoder implements Decoder {
  readonly #input: Input;
  readonly #make: (emit: (chunk: Uint8Array) => void) => Promise<Codec>;
  #codec: Codec | undefined;
  #pending: Uint8Array = EMPTY;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #cancelled = false;
  readonly #tick = yielder();

  constructor(open: Open, make: (emit: (chunk: Uint8Array) => void) => Promise<Codec>) {
    this.#input = new Input(open);
    this.#make = make;
  }

  async read(): Promise<Uint8Array | null> {
    this.#codec ??= await this.#make((chunk) => this.#queue.push(chunk));
    while (this.#queue.length === 0) {
      if (this.#ended || this.#cancelled) return null;
      if (this.#pending.length === 0) {
        const chunk = await this.#input.next();
        if (this.#cancelled) return null;
        if (chunk === null) {
          this.#codec.end();
          this.#ended = true;
          continue;
        }
        this.#pending = chunk;
      }
      this.#pending = this.#pending.subarray(this.#codec.feed(this.#pending));
      // Input that decodes to nothing (empty frames, skippable frames) never returns from this
      // loop: let the worker take its messages (a cancel) meanwhile.
      const turn = this.#tick();
      if (turn) await turn;
    }
    return this.#queue.shift() ?? null;
  }

  cancel(reason: unknown) {
    this.#cancelled = true;
    return this.#input.cancel(reason);
  }
}

/** The native decoder failed on its own (not the input, not an abort): worth a retry. */
class NativeFailure extends Error {
  override readonly name = 'NativeFailure';
}

/** DecompressionStream('gzip'), fed in bounded pieces, with its failures told apart. */
class NativeGunzip implements Decoder {
  readonly #input: Input;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #signal: AbortSignal | undefined;

  constructor(open: Open, factory: () => NativeGunzipPair, signal: AbortSignal | undefined) {
    this.#input = new Input(open);
    this.#signal = signal;
    const pair = factory();
    this.#reader = pair.readable.getReader();
    void this.#feed(pair.writable.getWriter());
  }

  /**
   * Writes one piece at a time, each after the last was taken. Not pipeTo: it writes while the
   * writable's desiredSize is positive, and Node 20's DecompressionStream counts its high-water
   * mark of 16384 in chunks, so a pipe would queue up to 16384 pieces of compressed input.
   * A write completes only once the decoder has taken it, which in a TransformStream (Chromium)
   * waits for a read of the output, and in Node waits for zlib's 'drain'.
   */
  async #feed(writer: WritableStreamDefaultWriter<BufferSource>) {
    try {
      for (;;) {
        const piece = await this.#input.next(NATIVE_PIECE);
        // The cast: DOM types want ArrayBuffer-backed views, which Blob.stream() chunks are.
        if (piece) await writer.write(piece as Uint8Array<ArrayBuffer>);
        else return await writer.close();
      }
    } catch (e) {
      // A failed write means the decoder failed or was cancelled; read() reports that.
      if (this.#input.failure) await writer.abort(e).catch(() => {});
    }
  }

  async read(): Promise<Uint8Array | null> {
    try {
      const r = await this.#reader.read();
      return r.done ? null : r.value;
    } catch (e) {
      if (this.#input.failure) throw this.#input.failure.error;
      if (this.#signal?.aborted) throw this.#signal.reason;
      throw new NativeFailure(messageOf(e), { cause: e });
    }
  }

  async cancel(reason: unknown) {
    await Promise.all([this.#reader.cancel(reason).catch(() => {}), this.#input.cancel(reason)]);
  }
}

/**
 * The native decoder first, then fflate from the same start if the native one fails.
 *
 * Chromium's DecompressionStream stops after the first gzip member ("Junk found after end of
 * compressed data"), and eStargz layers are one member per file. fflate's streaming Gunzip reads
 * every member (its gunzipSync does not). Node 20's DecompressionStream is zlib's and reads all
 * members itself (it also ignores trailing garbage that is not a gzip header), so there the
 * fallback only runs for data that is really corrupt or truncated.
 *
 * Bytes already delivered are skipped in the second pass, so the consumer sees one seamless
 * stream. The native error is dropped: if the data is bad, fflate finds it too and says where.
 */
class WithFallback implements Decoder {
  #current: Decoder;
  readonly #fallback: () => Decoder;
  #fellBack = false;
  #delivered = 0;
  #skip = 0;
  #cancelled = false;

  constructor(first: Decoder, fallback: () => Decoder) {
    this.#current = first;
    this.#fallback = fallback;
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await this.#current.read();
      } catch (e) {
        if (!(e instanceof NativeFailure) || this.#fellBack || this.#cancelled) throw e;
        this.#fellBack = true;
        this.#skip = this.#delivered;
        void this.#current.cancel(e);
        this.#current = this.#fallback();
        continue;
      }
      if (chunk === null) {
        if (this.#skip > 0) {
          throw new DecompressError(
            'gzip',
            `the native decoder delivered ${this.#delivered} bytes but fflate decodes only ` +
              `${this.#delivered - this.#skip}`,
          );
        }
        return null;
      }
      if (this.#skip > 0) {
        if (chunk.length <= this.#skip) {
          this.#skip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(this.#skip);
        this.#skip = 0;
      }
      this.#delivered += chunk.length;
      return chunk;
    }
  }

  cancel(reason: unknown) {
    this.#cancelled = true;
    return this.#current.cancel(reason);
  }
}

/**
 * A read resumed at a gzip checkpoint, by the native decoder: fflate alone can start inside a
 * deflate stream with a window, at two to three times the native decoder's CPU. The native
 * raw-deflate decoder is given a stored block holding the window (so that back-references
 * reach it), then the compressed bits from the checkpoint on, shifted to a byte boundary, up to
 * the last member's trailer; the window's bytes are dropped from its output.
 *
 * A layer of several members is for fflate: Chromium's decoder fails at the next member's
 * header, and Node's stops there silently, which the last member's ISIZE tells (the output
 * must end where it says). Either failure is a NativeFailure, and WithFallback starts over with
 * fflate from the checkpoint.
 */
class NativeResume implements Decoder {
  readonly #inner: NativeGunzip;
  #skip: number;
  #out: number;
  readonly #isize: () => Promise<number | undefined>;

  constructor(
    open: Open,
    factory: () => NativeGunzipPair,
    resume: { window: Uint8Array; bit: number },
    last: { end: number; out: number; isize: () => Promise<number | undefined> },
    signal: AbortSignal | undefined,
  ) {
    this.#inner = new NativeGunzip(resumedInput(open, resume, last.end), factory, signal);
    this.#skip = resume.window.length;
    this.#out = last.out;
    this.#isize = last.isize;
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = await this.#inner.read();
      if (chunk === null) {
        if (this.#skip > 0 || this.#out % 2 ** 32 !== (await this.#isize())) {
          throw new NativeFailure('the native decoder stopped before the last member ended');
        }
        return null;
      }
      if (this.#skip >= chunk.length) {
        this.#skip -= chunk.length;
        continue;
      }
      const out = this.#skip > 0 ? chunk.subarray(this.#skip) : chunk;
      this.#skip = 0;
      this.#out += out.length;
      return out;
    }
  }

  cancel(reason: unknown) {
    return this.#inner.cancel(reason);
  }
}

/** The input NativeResume decodes: a stored deflate block holding `window`, then the input from
 * `bit` bits into its first byte, realigned to bytes, cut at `end` bytes. */
function resumedInput(open: Open, resume: { window: Uint8Array; bit: number }, end: number): Open {
  const { window, bit } = resume;
  return () => {
    const { stream, meter } = open();
    const reader = stream.getReader();
    // A stored block, not the last: BFINAL 0 and BTYPE 00 in the first three bits, padding to
    // the byte, LEN and its complement, the bytes.
    const head = new Uint8Array(5 + window.length);
    head[1] = window.length & 0xff;
    head[2] = window.length >>> 8;
    head[3] = ~window.length & 0xff;
    head[4] = (~window.length >>> 8) & 0xff;
    head.set(window, 5);
    let started = false;
    let read = 0;
    /** The last byte read, held back until the next one gives its high bits. */
    let held = -1;
    const shifted = (v: Uint8Array): Uint8Array => {
      if (bit === 0) return v;
      const out = new Uint8Array(held < 0 ? v.length - 1 : v.length);
      let j = 0;
      if (held >= 0) out[j++] = ((held >>> bit) | (v[0]! << (8 - bit))) & 0xff;
      for (let i = 1; i < v.length; i++)
        out[j++] = ((v[i - 1]! >>> bit) | (v[i]! << (8 - bit))) & 0xff;
      held = v[v.length - 1]!;
      return out;
    };
    const finish = (c: ReadableStreamDefaultController<Uint8Array>) => {
      if (bit !== 0 && held >= 0) c.enqueue(Uint8Array.of(held >>> bit));
      held = -1;
      c.close();
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (!started) {
          started = true;
          c.enqueue(head);
          return;
        }
        for (;;) {
          if (read >= end) {
            await reader.cancel().catch(() => {});
            return finish(c);
          }
          const r = await reader.read();
          if (r.done) return finish(c);
          let v = r.value;
          if (v.length === 0) continue;
          if (read + v.length > end) v = v.subarray(0, end - read);
          read += v.length;
          const out = shifted(v);
          if (out.length > 0) return c.enqueue(out);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    return { stream: body, meter };
  };
}

interface GunzipHooks {
  checkpoints?: CheckpointRecorder | undefined;
  resume?: { window: Uint8Array; bit: number } | undefined;
  pieceMax?: number | undefined;
}

function fflateGunzip(open: Open, hooks: GunzipHooks = {}): Decoder {
  return new SyncDecoder(
    open,
    async (emit) => new GunzipCodec(await createCRC32(), await createCRC32(), emit, hooks),
  );
}

/** What the fflate patch (patches/fflate+*.patch) adds to Gunzip: a hook at every deflate
 * block boundary, and a start inside a member's deflate data. */
interface PatchedGunzip extends Gunzip {
  /** A block starts `bitsLeft` bits before the end of the input pushed so far, after `made`
   * bytes of this push's output; `window` is the output before it (a view: copy to keep). */
  onblock?: ((bitsLeft: number, made: number, window: Uint8Array) => void) | undefined;
}
interface PatchedGunzipOptions {
  dictionary?: Uint8Array;
  /** The first push starts in a member's deflate data, at a block this many bits in. */
  startBit?: number;
}

/**
 * fflate's streaming Gunzip, plus the checks it leaves out.
 *
 * fflate skips each member's trailer unread, and it returns success on input that stops inside a
 * trailer or right after a header. So every member's CRC-32 and size are checked here against
 * its trailer, which is read back from the retained tail of the input when fflate reports the
 * next member (`onmember`) or the input ends.
 */
class GunzipCodec implements Codec {
  readonly #gunzip: PatchedGunzip;
  readonly #crc: IHasher;
  readonly #headerCrc: IHasher;
  readonly #tail = new Tail();
  #in = 0;
  #out = 0;
  #memberStart = 0;
  #memberOut = 0;
  #piece = GZIP_PIECE_START;
  readonly #pieceMax: number;
  /** Where the member whose header is not yet checked starts. */
  #headerAt: number | undefined = 0;
  readonly #emit: (chunk: Uint8Array) => void;
  /** Output held back while the end is checked (see #seal). */
  #held: Uint8Array[] | undefined;
  /** The input started at a checkpoint inside a member: its header and trailer are not ours to
   * check (the member's CRC-32 covers bytes before the checkpoint). Cleared at the next member. */
  #resumed: boolean;

  /** `crc` follows each member's data; `headerCrc` checks headers (FHCRC). */
  constructor(
    crc: IHasher,
    headerCrc: IHasher,
    emit: (chunk: Uint8Array) => void,
    { checkpoints, resume, pieceMax }: GunzipHooks = {},
  ) {
    this.#pieceMax = pieceMax ?? GZIP_PIECE_MAX;
    const options: PatchedGunzipOptions = resume
      ? { dictionary: resume.window, startBit: resume.bit }
      : {};
    this.#gunzip = new Gunzip(options as GunzipStreamOptions);
    this.#resumed = resume !== undefined;
    if (resume) this.#headerAt = undefined;
    if (checkpoints) {
      // Only a boundary the recorder keeps costs more than a comparison: it copies the window.
      this.#gunzip.onblock = (bitsLeft, made, window) => {
        const out = this.#out + made;
        if (checkpoints.wants(out)) {
          checkpoints.block(this.#in * 8 - bitsLeft, out, this.#memberStart, window);
        }
      };
    }
    this.#crc = crc.init();
    this.#headerCrc = headerCrc;
    this.#gunzip.ondata = (data) => {
      if (data.length === 0) return;
      if (this.#held) {
        this.#held.push(data.slice());
        return;
      }
      this.#crc.update(data);
      this.#memberOut += data.length;
      this.#out += data.length;
      emit(data);
    };
    this.#emit = emit;
    this.#gunzip.onmember = (offset) => {
      // The member that ends here may have come whole in one piece: check its header first.
      this.#checkHeader();
      if (!this.#resumed) this.#checkTrailer(offset);
      this.#resumed = false;
      this.#headerAt = offset;
      this.#checkHeader();
      this.#crc.init();
      this.#memberStart = offset;
      this.#memberOut = 0;
    };
  }

  feed(chunk: Uint8Array): number {
    const piece = chunk.subarray(0, this.#piece);
    this.#tail.add(piece);
    this.#in += piece.length;
    const before = this.#out;
    this.#push(piece, false);
    this.#checkHeader();
    const ratio = (this.#out - before) / piece.length;
    const fit = 2 ** Math.floor(Math.log2(TARGET_OUT / Math.max(ratio, 1)));
    this.#piece = Math.max(GZIP_PIECE_MIN, Math.min(this.#pieceMax, fit, this.#piece * 2));
    return piece.length;
  }

  end() {
    this.#checkHeader();
    // A member is at least a 10-byte header, 2 bytes of deflate data and an 8-byte trailer
    // (and a member entered at a checkpoint, at least its trailer).
    if (this.#in - this.#memberStart < (this.#resumed ? 8 : 20)) {
      throw new DecompressError(
        'gzip',
        this.#in === 0 ? 'the input is empty' : 'truncated: the input ends inside a gzip member',
        this.#in,
        this.#out,
      );
    }
    this.#seal();
  }

  /**
   * Checks that the last member ends exactly where the input does. fflate says where a member
   * ends only by reporting the next one, and it drops up to 3 bytes after the last member
   * unread, so its trailer would be read from the wrong place. So an empty member is fed after
   * the input: fflate must report it at exactly the input's end, with no output between.
   */
  #seal() {
    const end = this.#in;
    let reported: number | undefined;
    // The empty member is not the layer's: no checkpoint in it.
    this.#gunzip.onblock = undefined;
    // The last of the real member's output can come out only now (fflate decodes near the end
    // of its input only once more follows); held until the member is known to end here, since
    // if it does not, the output is the empty member read as deflate data.
    this.#held = [];
    this.#gunzip.onmember = (offset) => {
      reported ??= offset;
    };
    try {
      this.#gunzip.push(EMPTY_MEMBER, false);
    } catch (e) {
      throw new DecompressError(
        'gzip',
        'corrupt data: the input does not end where its last gzip member does: bytes follow ' +
          `it, or it is cut short (${messageOf(e)})`,
        end,
        this.#out,
        { cause: e },
      );
    }
    if (reported !== end) {
      throw new DecompressError(
        'gzip',
        reported === undefined
          ? 'truncated: the input ends inside a gzip member'
          : reported > end
            ? "truncated: the input ends inside the last gzip member's trailer"
            : `corrupt data: ${end - reported} bytes follow the last gzip member's trailer`,
        end,
        this.#out,
      );
    }
    const held = this.#held;
    this.#held = undefined;
    for (const data of held) {
      this.#crc.update(data);
      this.#memberOut += data.length;
      this.#out += data.length;
      this.#emit(data);
    }
    if (!this.#resumed) this.#checkTrailer(end);
  }

  #push(data: Uint8Array, final: boolean) {
    try {
      this.#gunzip.push(data, final);
    } catch (e) {
      if (e instanceof DecompressError) throw e;
      const message = messageOf(e);
      const problem =
        message === 'unexpected EOF'
          ? 'truncated: the input ends inside a gzip member'
          : `corrupt data: ${message}`;
      throw new DecompressError('gzip', problem, this.#in, this.#out, { cause: e });
    }
  }

  /**
   * Checks the header of the member at #headerAt once all of it is in: what fflate skips, as
   * gzip and zlib do not. Reserved flag bits are refused, and a header CRC (FHCRC, the low 16
   * bits of the CRC-32 of the header before it) must match.
   */
  #checkHeader() {
    const at = this.#headerAt;
    if (at === undefined) return;
    const tail = this.#tail;
    const fail = (problem: string): never => {
      throw new DecompressError('gzip', problem, at, this.#out);
    };
    const get = (pos: number, n: number): Uint8Array | undefined => {
      if (pos + n > tail.end) return undefined;
      return (
        tail.read(pos, n) ??
        fail(`the header of the member at compressed offset ${at} is too long to check`)
      );
    };
    const fixed = get(at, 10);
    if (!fixed) return;
    const flg = fixed[3] ?? 0;
    if (flg & 0xe0) {
      fail(
        `corrupt data: the member at compressed offset ${at} sets reserved header flag bits ` +
          `(FLG 0x${flg.toString(16)}), which gzip refuses`,
      );
    }
    let pos = at + 10;
    if (flg & 4) {
      const xlen = get(pos, 2);
      if (!xlen) return;
      pos += 2 + (xlen[0] ?? 0) + ((xlen[1] ?? 0) << 8);
    }
    for (const bit of [8, 16]) {
      if (!(flg & bit)) continue;
      for (;;) {
        const b = get(pos, 1);
        if (!b) return;
        pos += 1;
        if (b[0] === 0) break;
      }
    }
    if (flg & 2) {
      const stored = get(pos, 2);
      const header = get(at, pos - at);
      if (!stored || !header) return;
      const want = (stored[0] ?? 0) | ((stored[1] ?? 0) << 8);
      const got = parseInt(this.#headerCrc.init().update(header).digest('hex'), 16) & 0xffff;
      if (got !== want) {
        fail(
          `corrupt data: the header of the member at compressed offset ${at} fails its header ` +
            `CRC (FHCRC ${got.toString(16).padStart(4, '0')}, header says ` +
            `${want.toString(16).padStart(4, '0')})`,
        );
      }
    }
    this.#headerAt = undefined;
  }

  /** Checks the member that ends at compressed offset `end` against its trailer. */
  #checkTrailer(end: number) {
    const trailer = this.#tail.read(end - 8, 8);
    if (!trailer) {
      throw new DecompressError(
        'gzip',
        `the header of the member at compressed offset ${end} is too long to check the trailer before it`,
        end,
        this.#out,
      );
    }
    const view = new DataView(trailer.buffer, trailer.byteOffset, 8);
    const wantCrc = view.getUint32(0, true);
    const wantSize = view.getUint32(4, true);
    const gotCrc = parseInt(this.#crc.digest('hex'), 16);
    if (gotCrc !== wantCrc || wantSize !== this.#memberOut % 2 ** 32) {
      throw new DecompressError(
        'gzip',
        `the member starting at compressed offset ${this.#memberStart} fails its trailer check ` +
          `(CRC-32 ${hex(gotCrc)}, size ${this.#memberOut}; trailer says ${hex(wantCrc)}, ` +
          `size ${wantSize} mod 2^32): the data is corrupt or truncated`,
        end,
        this.#out,
      );
    }
  }
}

/** The last TAIL_RETAIN bytes of a stream, addressed by absolute offset. */
class Tail {
  readonly #pieces: Uint8Array[] = [];
  #start = 0;
  #end = 0;

  /** The offset just past the last byte added. */
  get end(): number {
    return this.#end;
  }

  add(piece: Uint8Array) {
    this.#pieces.push(piece);
    this.#end += piece.length;
    let first = this.#pieces[0];
    while (first && this.#end - this.#start - first.length >= TAIL_RETAIN) {
      this.#start += first.length;
      this.#pieces.shift();
      first = this.#pieces[0];
    }
  }

  /** A copy of bytes [at, at + n), or undefined when they are no longer (or not yet) held. */
  read(at: number, n: number): Uint8Array | undefined {
    if (at < this.#start || at + n > this.#end) return undefined;
    const out = new Uint8Array(n);
    let pos = this.#start;
    let filled = 0;
    for (const piece of this.#pieces) {
      const from = Math.max(at + filled - pos, 0);
      if (from < piece.length) {
        const part = piece.subarray(from, from + n - filled);
        out.set(part, filled);
        filled += part.length;
        if (filled === n) break;
      }
      pos += piece.length;
    }
    return out;
  }
}

async function zstdCodec(
  emit: (chunk: Uint8Array) => void,
  checkpoints?: CheckpointRecorder,
): Promise<Codec> {
  return new ZstdCodec(await createXXHash64(), emit, checkpoints);
}

type ZstdPhase = 'magic' | 'header' | 'block' | 'body' | 'checksum' | 'skipSize' | 'skip';

interface ZstdFrame {
  decoder: ZstdDecoder;
  checksum: boolean;
  /** Compressed offset of the frame's magic number. */
  start: number;
  /** Frame_Content_Size, when the header gives it. */
  contentSize: number | undefined;
  /** The largest a block may be, compressed or not: min(window, 128 KiB). */
  blockMax: number;
  /** Bytes this frame has decoded to so far. */
  out: number;
}

/**
 * fzstd behind a walker of the zstd frame format (RFC 8878), which the walker needs for three
 * things fzstd does not do: it stops after every block, so one step decodes at most 128 KiB even
 * when a few bytes of RLE blocks stand for gigabytes; it checks each frame's content checksum,
 * which fzstd skips; and it knows exactly where the input stopped short. It also checks what fzstd
 * does not: Frame_Content_Size against the bytes decoded, and each block against the frame's
 * block maximum. fzstd itself is patched (patches/fzstd+*.patch) so that decoding one block is
 * bounded by the block's size and every corruption zstd detects inside a block throws. Every frame gets a fresh
 * fzstd decoder, pushed with `final` at the frame's end; skippable frames are passed over.
 */
class ZstdCodec implements Codec {
  readonly #xxh: IHasher;
  readonly #emit: (chunk: Uint8Array) => void;
  #phase: ZstdPhase = 'magic';
  /** Fixed-size fields are gathered here: magic + frame header (at most 18), block header, etc. */
  readonly #field = new Uint8Array(18);
  #have = 0;
  #need = 4;
  /** Bytes left in the current block body or skippable frame. */
  #left = 0;
  #lastBlock = false;
  #frame: ZstdFrame | undefined;
  #in = 0;
  #out = 0;
  /** The window sizes its frames declared so far, in bytes. */
  #windows = 0;

  readonly #checkpoints: CheckpointRecorder | undefined;

  constructor(
    xxh: IHasher,
    emit: (chunk: Uint8Array) => void,
    checkpoints: CheckpointRecorder | undefined,
  ) {
    this.#xxh = xxh;
    this.#emit = emit;
    this.#checkpoints = checkpoints;
  }

  feed(chunk: Uint8Array): number {
    let i = 0;
    let seg = 0; // where the bytes of the open frame not yet given to fzstd begin
    for (;;) {
      if (this.#phase === 'body' || this.#phase === 'skip') {
        const n = Math.min(this.#left, chunk.length - i);
        i += n;
        this.#left -= n;
        if (this.#left > 0) break;
        if (this.#phase === 'skip') {
          this.#expect('magic', 4);
          continue;
        }
        // A block ends: decode it, and stop so that its output is read before the next one.
        this.#push(chunk.subarray(seg, i), false, i);
        seg = i;
        if (!this.#lastBlock) this.#expect('block', 3);
        else if (this.#frame?.checksum) this.#expect('checksum', 4);
        else this.#endFrame(EMPTY, i);
        break;
      }
      if (i === chunk.length) break;
      const n = Math.min(this.#need - this.#have, chunk.length - i);
      this.#field.set(chunk.subarray(i, i + n), this.#have);
      this.#have += n;
      i += n;
      if (this.#have < this.#need) break;
      switch (this.#phase) {
        case 'magic': {
          const magic = this.#u32(0);
          if (magic === 0xfd2fb528) {
            // Frames are independent: each one's start is a place to begin reading.
            this.#checkpoints?.frame(this.#in + i - 4, this.#out);
            this.#frame = {
              decoder: this.#decoder(),
              checksum: false,
              start: this.#in + i - 4,
              contentSize: undefined,
              blockMax: ZSTD_MAX_BLOCK,
              out: 0,
            };
            this.#push(this.#field.slice(0, 4), false, i);
            seg = i;
            this.#phase = 'header';
            this.#need = 5; // the frame header descriptor tells the rest of the header's size
          } else if ((magic & 0xfffffff0) === 0x184d2a50) {
            this.#expect('skipSize', 4);
          } else {
            this.#fail(`not zstd data: unknown frame magic 0x${hex(magic)}`, i - 4);
          }
          break;
        }
        case 'header':
          if (this.#need === 5) {
            const size = frameHeaderSize(this.#field[4] ?? 0);
            if (size > 5) {
              this.#need = size;
              break;
            }
          }
          this.#checkFrameHeader(i);
          this.#expect('block', 3);
          break;
        case 'block': {
          const b = this.#u24(0);
          const type = (b >> 1) & 3;
          const size = b >>> 3;
          if (type === 3) this.#fail('corrupt data: reserved block type', i - 3);
          const max = this.#frame?.blockMax ?? ZSTD_MAX_BLOCK;
          if (size > max) {
            this.#fail(
              `corrupt data: a block of ${size} bytes, more than the frame's block maximum of ` +
                `${max} (its window size, at most 128 KiB)`,
              i - 3,
            );
          }
          this.#lastBlock = (b & 1) === 1;
          this.#phase = 'body';
          this.#left = type === 1 ? 1 : size;
          break;
        }
        case 'checksum':
          this.#endFrame(chunk.subarray(seg, i), i);
          seg = i;
          this.#expect('magic', 4);
          break;
        case 'skipSize':
          this.#phase = 'skip';
          this.#left = this.#u32(0);
          break;
        default:
          throw new Error(`unreachable zstd phase ${this.#phase}`);
      }
      if (this.#phase === 'magic' && this.#have === 0 && !this.#frame) break;
    }
    if (this.#frame && i > seg) this.#push(chunk.subarray(seg, i), false, i);
    this.#in += i;
    return i;
  }

  end() {
    if (this.#phase === 'magic' && this.#have === 0 && this.#in > 0) return;
    const where: Record<ZstdPhase, string> = {
      magic: 'a frame magic number',
      header: 'a frame header',
      block: 'a block header',
      body: 'a block',
      checksum: 'a frame checksum',
      skipSize: 'a skippable frame',
      skip: 'a skippable frame',
    };
    throw new DecompressError(
      'zstd',
      this.#in === 0
        ? 'the input is empty'
        : `truncated: the input ends inside ${where[this.#phase]}`,
      this.#in,
      this.#out,
    );
  }

  #decoder(): ZstdDecoder {
    return new ZstdDecoder((data) => {
      const frame = this.#frame;
      if (data.length === 0 || !frame) return;
      frame.out += data.length;
      if (frame.contentSize !== undefined && frame.out > frame.contentSize) {
        throw new DecompressError(
          'zstd',
          `corrupt data: the frame starting at compressed offset ${frame.start} decodes to ` +
            `more than the ${frame.contentSize} bytes its header declares (Frame_Content_Size)`,
          undefined,
          this.#out,
        );
      }
      if (frame.checksum) this.#xxh.update(data);
      this.#out += data.length;
      this.#emit(data);
    });
  }

  #checkFrameHeader(i: number) {
    const f = this.#field;
    const fhd = f[4] ?? 0;
    const singleSegment = (fhd & 0x20) !== 0;
    if (fhd & 0x08) this.#fail('corrupt data: reserved frame header bit set', i);
    let pos = singleSegment ? 5 : 6;
    const dictBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
    let dictId = 0;
    for (let k = dictBytes - 1; k >= 0; k--) dictId = dictId * 256 + (f[pos + k] ?? 0);
    pos += dictBytes;
    if (dictId !== 0) {
      this.#fail(`the frame needs zstd dictionary ${dictId}, which a layer cannot carry`, i);
    }
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fhd >> 6] ?? 0;
    let contentSize: number | undefined;
    if (fcsBytes > 0) {
      contentSize = 0;
      for (let k = fcsBytes - 1; k >= 0; k--) contentSize = contentSize * 256 + (f[pos + k] ?? 0);
      if (fcsBytes === 2) contentSize += 256;
    }
    let window: number;
    if (singleSegment) {
      window = contentSize ?? 0;
    } else {
      const wd = f[5] ?? 0;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    if (window > ZSTD_MAX_WINDOW) {
      this.#fail(
        `the frame needs a ${window}-byte window, more than the ${ZSTD_MAX_WINDOW} that zstd ` +
          `itself decodes without --memory`,
        i,
      );
    }
    // fzstd allocates each frame's whole window up front, so frames of a few bytes that
    // declare large windows cost far more than they hold: windows are charged to a budget
    // that grows with the input.
    this.#windows += window;
    const budget = ZSTD_WINDOW_BUDGET + ZSTD_WINDOW_PER_BYTE * (this.#in + i);
    if (this.#windows > budget) {
      this.#fail(
        `its frames declare ${this.#windows} bytes of windows in ${this.#in + i} compressed ` +
          `bytes, more than the ${ZSTD_WINDOW_BUDGET} plus ${ZSTD_WINDOW_PER_BYTE} per ` +
          'compressed byte that Berth allocates',
        i,
      );
    }
    if (this.#frame) {
      this.#frame.contentSize = contentSize;
      this.#frame.blockMax = Math.min(window, ZSTD_MAX_BLOCK);
      this.#frame.checksum = (fhd & 0x04) !== 0;
      if (this.#frame.checksum) this.#xxh.init();
    }
  }

  #endFrame(rest: Uint8Array, i: number) {
    const frame = this.#frame;
    if (!frame) return;
    this.#push(rest, true, i);
    if (frame.contentSize !== undefined && frame.out !== frame.contentSize) {
      this.#fail(
        `corrupt data: the frame starting at compressed offset ${frame.start} decodes to ` +
          `${frame.out} bytes, not the ${frame.contentSize} its header declares ` +
          `(Frame_Content_Size)`,
        i,
      );
    }
    if (frame.checksum) {
      const want = this.#u32(0);
      const got = parseInt(this.#xxh.digest('hex').slice(8), 16);
      if (got !== want) {
        this.#fail(
          `the frame starting at compressed offset ${frame.start} fails its content checksum ` +
            `(XXH64 low bits ${hex(got)}, frame says ${hex(want)}): the data is corrupt`,
          i,
        );
      }
    }
    this.#frame = undefined;
    this.#expect('magic', 4);
  }

  #push(data: Uint8Array, final: boolean, i: number) {
    if (!this.#frame) return;
    try {
      this.#frame.decoder.push(data, final);
    } catch (e) {
      if (e instanceof DecompressError) throw e;
      const message = messageOf(e);
      throw new DecompressError('zstd', `corrupt data: ${message}`, this.#in + i, this.#out, {
        cause: e,
      });
    }
  }

  #expect(phase: ZstdPhase, need: number) {
    this.#phase = phase;
    this.#need = need;
    this.#have = 0;
  }

  #fail(problem: string, i: number): never {
    throw new DecompressError('zstd', problem, this.#in + i, this.#out);
  }

  #u24(at: number): number {
    const f = this.#field;
    return (f[at] ?? 0) | ((f[at + 1] ?? 0) << 8) | ((f[at + 2] ?? 0) << 16);
  }

  #u32(at: number): number {
    return (this.#u24(at) | ((this.#field[at + 3] ?? 0) << 24)) >>> 0;
  }
}

/** The size of a zstd frame's magic plus header, from its header descriptor byte. */
function frameHeaderSize(fhd: number): number {
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fhd >> 6] ?? 0;
  const dictBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
  return 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
