const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * A size setting in bytes: an integer, or `512MiB`, `1.5G`, `300M` (PM2's form). Every unit is
 * binary (K = 1024), whether written K, KB or KiB: memory is counted in pages, and a limit a
 * little lower than meant is the safe side. Null stays null. The schema has checked the form.
 */
export function sizeInBytes(value: string | number | null): number | null {
  if (value === null || typeof value === 'number') return value;
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGTkmgt]?)i?B?$/.exec(value.trim());
  if (!match) throw new Error(`not a size: ${value}`);
  const unit = UNITS[(match[2] ?? '').toUpperCase()] ?? 1;
  return Math.round(Number(match[1]) * unit);
}
