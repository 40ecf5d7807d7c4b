package ai.wrx;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The answer to one query: every label with its score (in label order), the top one, the
 * token ids the device's tokenizer produced, and the timings. */
public final class Classification {
  private final List<Category> categories;
  private final int top;
  private final int[] tokenIds;
  private final float[] logits;
  private final Timings timings;

  /** Built by the JNI layer. */
  Classification(int top, String[] labels, float[] scores, float[] logits, int[] tokenIds, double[] t, long bytesRead) {
    List<Category> cats = new ArrayList<>(labels.length);
    for (int i = 0; i < labels.length; ++i) cats.add(new Category(i, labels[i], scores[i]));
    this.categories = Collections.unmodifiableList(cats);
    this.top = top;
    this.tokenIds = tokenIds;
    this.logits = logits;
    this.timings = new Timings(t[0], t[1], t[2], t[3], t[4], bytesRead);
  }

  public List<Category> categories() {
    return categories;
  }

  public Category top() {
    return categories.get(top);
  }

  public int[] tokenIds() {
    return tokenIds.clone();
  }

  public float[] logits() {
    return logits.clone();
  }

  public Timings timings() {
    return timings;
  }
}
