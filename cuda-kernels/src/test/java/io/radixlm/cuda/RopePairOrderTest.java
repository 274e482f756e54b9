package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The pair order of q/k projection rows on the GPU (no GPU needed). */
class RopePairOrderTest {
    @Test
    void storedIndicesAlternateTheTwoHalvesOfAHead() {
        int[] expected = {0, 4, 1, 5, 2, 6, 3, 7};
        for (int s = 0; s < 8; s++) assertEquals(expected[s], RopePairOrder.featureAt(s, 8), "stored " + s);
    }

    @Test
    void rowsAreRearrangedHeadByHeadAndKeepTheirValues() {
        // 2 heads of headDim 4, rows of 2 values: row r holds (10 r, 10 r + 1)
        float[] rows = new float[2 * 4 * 2];
        for (int r = 0; r < 8; r++) {
            rows[2 * r] = 10 * r;
            rows[2 * r + 1] = 10 * r + 1;
        }
        float[] expected = {0, 1, 20, 21, 10, 11, 30, 31, 40, 41, 60, 61, 50, 51, 70, 71};
        assertArrayEquals(expected, RopePairOrder.rows(rows, 2, 4, 2));
        assertArrayEquals(new float[] {1, 3, 2, 4}, RopePairOrder.rows(new float[] {1, 2, 3, 4}, 1, 4, 1));
        assertThrows(IllegalArgumentException.class, () -> RopePairOrder.rows(new float[6], 1, 4, 1));
        assertThrows(IllegalArgumentException.class, () -> RopePairOrder.rows(new float[3], 1, 3, 1));
    }
}
