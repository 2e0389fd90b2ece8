/**
 * kubectl's AGE column (`duration.HumanDuration` of apimachinery): 5s, 3m20s, 2h10m, 3d4h, 400d, 2y30d.
 * Pure, so the API server's Tables and the dashboard's live ages print the same text.
 */
export function humanDuration(ms: number): string {
  // Truncated toward zero, as Go's int(d.Seconds()).
  const seconds = Math.trunc(ms / 1000);
  // Up to two seconds in the future is clock skew between machines: "now".
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return days % 365 ? `${years}y${days % 365}d` : `${years}y`;
  return `${years}y`;
}

/** The age of an object created at `timestamp` (RFC 3339), as kubectl prints it. */
export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  return humanDuration(now - Date.parse(timestamp));
}
