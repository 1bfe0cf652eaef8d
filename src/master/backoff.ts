/**
 * Exponential back-off for workers that crash right after they start, so a broken app never
 * becomes a fork bomb: 0.5 s, 1 s, 2 s ... capped at 30 s, reset once workers have stayed up.
 */
export class CrashBackoff {
  private failures = 0;
  private until = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
  ) {}

  /** Records a crash at `now`; returns the delay before the next spawn. */
  recordCrash(now: number): number {
    this.failures++;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (this.failures - 1));
    this.until = now + delay;
    return delay;
  }

  reset(): void {
    this.failures = 0;
    this.until = 0;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  canSpawn(now: number): boolean {
    return now >= this.until;
  }

  /** Milliseconds until the next spawn is allowed (0 when allowed now). */
  waitMs(now: number): number {
    return Math.max(0, this.until - now);
  }
}
