#include "common/textdist.h"

static int fold(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

size_t text_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t row[64];

	if (alen > 63)
		alen = 63;
	if (blen > 63)
		blen = 63;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t best = diag + (fold((unsigned char)a[i - 1]) != fold((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}
