/*
 * npy — NumPy .npy files (format versions 1.0, 2.0 and 3.0) to and from
 * tensors.
 *
 * Reads little-endian C-ordered arrays of the dtypes tensor.h knows; a
 * Fortran-ordered, big-endian, object or structured array is an error that
 * says so. Writes format 1.0 (2.0 when the header needs it) through a
 * temporary file renamed into place.
 *
 * Not here: .npz archives, memory mapping.
 */
#ifndef LRC_NPY_H
#define LRC_NPY_H

#include "core/tensor.h"

int npy_read(const char *path, tensor *t);
int npy_write(const char *path, const tensor *t);

#endif
