package ai.wrx;

/** One label of an answer: its index in the package's labels, its name, its probability. */
public final class Category {
  private final int index;
  private final String label;
  private final float score;

  public Category(int index, String label, float score) {
    this.index = index;
    this.label = label;
    this.score = score;
  }

  public int index() {
    return index;
  }

  public String label() {
    return label;
  }

  public float score() {
    return score;
  }

  @Override
  public String toString() {
    return label + "=" + score;
  }
}
