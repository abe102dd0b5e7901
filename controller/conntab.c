/* Open-addressing table of connections; see conntab.h. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/conntab.h"

static size_t home_of(const conntab *t, uint32_t pipe)
{
	/* NNG's pipe ids are consecutive: a multiplicative hash spreads them. */
	return (size_t)((pipe * 2654435761u) & (uint32_t)(t->cap - 1));
}

int conntab_init(conntab *t, size_t limit)
{
	memset(t, 0, sizeof(*t));
	t->limit = limit;
	for (t->cap = 16; t->cap < 2 * limit;)
		t->cap *= 2;
	t->tab = calloc(t->cap, sizeof(*t->tab));
	return t->tab != NULL ? HERD_OK : HERD_ENOMEM;
}

void conntab_fini(conntab *t)
{
	free(t->tab);
	t->tab = NULL;
}

conntab_entry *conntab_find(conntab *t, uint32_t pipe)
{
	if (pipe == 0)
		return NULL;
	for (size_t i = home_of(t, pipe);; i = (i + 1) & (t->cap - 1)) {
		if (t->tab[i].pipe == pipe)
			return &t->tab[i];
		if (t->tab[i].pipe == 0)
			return NULL;
	}
}

conntab_entry *conntab_insert(conntab *t, uint32_t pipe)
{
	if (pipe == 0 || t->used >= t->limit)
		return NULL;
	size_t i = home_of(t, pipe);
	while (t->tab[i].pipe != 0)
		i = (i + 1) & (t->cap - 1);
	memset(&t->tab[i], 0, sizeof(t->tab[i]));
	t->tab[i].pipe = pipe;
	t->used++;
	return &t->tab[i];
}

void conntab_erase(conntab *t, conntab_entry *e)
{
	size_t i = (size_t)(e - t->tab), mask = t->cap - 1;
	t->tab[i].pipe = 0;
	t->used--;
	for (size_t j = (i + 1) & mask; t->tab[j].pipe != 0; j = (j + 1) & mask) {
		size_t home = home_of(t, t->tab[j].pipe);
		/* Entry j stays when its home lies cyclically in (i, j]: a lookup
		 * from there reaches j without crossing the hole at i. */
		int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		t->tab[i] = t->tab[j];
		t->tab[j].pipe = 0;
		i = j;
	}
}
