// The version vendetta reports (`vendetta --version`, vendetta_build_info on /metrics).
export const VERSION = '0.1.0';
