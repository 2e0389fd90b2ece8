/** Gantry's own version, reported by `/version` and `gantry version`. */
export const GANTRY_VERSION = '0.1.0';
