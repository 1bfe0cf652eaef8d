/** One worker exit, as `tsicorn status` lists it. */
export interface ExitRecord {
  pid: number;
  generation: number;
  reason: string;
  at: string;
}

const KEEP = 20;

/** Worker exits since the master started: a count by reason and the latest few, for `tsicorn status`. */
export class ExitHistory {
  readonly byReason: Record<string, number> = {};
  private readonly recent: ExitRecord[] = [];

  record(pid: number, generation: number, reason: string): void {
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    this.recent.push({ pid, generation, reason, at: new Date().toISOString() });
    if (this.recent.length > KEEP) this.recent.shift();
  }

  latest(): ExitRecord[] {
    return [...this.recent];
  }
}
