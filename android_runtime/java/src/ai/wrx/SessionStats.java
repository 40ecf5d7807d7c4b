package ai.wrx;

/** What a session holds: weight bytes alive in the process, its preload buffer, process RSS. */
public final class SessionStats {
  public final long residentWeightBytes, preloadBytes, rssBytes, peakRssBytes, queries;

  SessionStats(long[] v) {
    this.residentWeightBytes = v[0];
    this.preloadBytes = v[1];
    this.rssBytes = v[2];
    this.peakRssBytes = v[3];
    this.queries = v[4];
  }
}
