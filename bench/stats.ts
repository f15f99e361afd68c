/** The p-th percentile (0–100) by nearest rank; NaN for no samples. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** Sorted copy of the samples, for percentile(). */
export function sortedSamples (samples: number[]): Float64Array {
  return Float64Array.from(samples).sort()
}

/** Median of the values that are numbers; NaN when there are none. */
export function median (values: Array<number | undefined>): number {
  const numbers = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b)
  if (numbers.length === 0) return Number.NaN
  const middle = Math.floor(numbers.length / 2)
  return numbers.length % 2 === 1 ? numbers[middle]! : (numbers[middle - 1]! + numbers[middle]!) / 2
}
