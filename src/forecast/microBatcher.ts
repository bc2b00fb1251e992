/**
 * Collects concurrent calls into one batch: every call made in the same turn of the event loop (or within
 * `maxDelayMs`) is processed by one `process` call, so many pair workflows' forecast activities share one ONNX
 * run. A batch is flushed early when it reaches `maxBatch`. Errors are per item.
 */
export interface MicroBatcherOptions {
  maxBatch?: number;
  /** 0 flushes on the next event-loop turn (setImmediate). */
  maxDelayMs?: number;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  /** Sizes of the batches processed so far (tests and benchmarks read it). */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly process: (items: I[]) => Promise<(O | Error)[]>,
    { maxBatch = 10_000, maxDelayMs = 0 }: MicroBatcherOptions = {},
  ) {
    this.maxBatch = maxBatch;
    this.maxDelayMs = maxDelayMs;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (this.timer === undefined) {
        this.timer =
          this.maxDelayMs > 0 ? setTimeout(() => this.flush(), this.maxDelayMs) : setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) this.timer = setImmediate(() => this.flush());
    if (batch.length === 0) return;
    this.batchSizes.push(batch.length);
    this.process(batch.map((p) => p.item)).then(
      (results) => {
        batch.forEach((p, i) => {
          const r = results[i];
          if (r instanceof Error) p.reject(r);
          else if (r === undefined) p.reject(new Error('the batch returned no result for this item'));
          else p.resolve(r);
        });
      },
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    );
  }
}
