/* libFuzzer target: a dataset.json (io/dataset.h) parsed from memory, every
 * case and class name touched; relative paths resolve under a folder that
 * does not exist, so the nnU-Net v2 folder scan finds nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    manifest m;
    size_t sum = 0;
    if (dataset_parse((const char *)data, size, "/nonexistent/ds", "dataset.json", &m))
        return 0;
    for (size_t i = 0; i < m.n; i++) {
        sum += strlen(m.cases[i].id) + strlen(m.cases[i].image) + strlen(m.cases[i].where);
        if (m.cases[i].label)
            sum += strlen(m.cases[i].label);
        if (!m.cases[i].id[0] || strchr(m.cases[i].id, '/'))
            abort();
    }
    for (int i = 0; i < m.nclasses; i++)
        sum += strlen(m.classes[i]);
    manifest_free(&m);
    return sum == (size_t)-1;
}
