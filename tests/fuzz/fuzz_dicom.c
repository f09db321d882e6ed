/* libFuzzer target: one DICOM file through DCMTK and lrcpipe's checks on it
 * (io/dicom.h: attributes, bit layout, pixel decoding with the modality
 * rescale, capped at 64 K pixels), and the slice geometry of ct/dicomvol.h
 * on a series of three copies of the parsed slice moved along its normal
 * (and one moved off it), so that every attribute value the parser lets
 * through reaches the sorting, spacing and affine code. DCMTK itself is
 * Debian's build (not instrumented): ASan sees its heap, coverage is ours. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct/dicomvol.h"
#include "io/dicom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float pix[65536];
    dcm_info info;
    int r = dcm_read_mem(data, size, &info, pix, sizeof pix / sizeof pix[0]);
    if (r < 0 && dcm_read_mem(data, size, &info, NULL, 0) < 0)
        return 0;
    if (r == 1 || dcm_read_mem(data, size, &info, NULL, 0) == 1) {
        dicom_series s;
        double A[16], sp[3], nrm[3];
        int64_t shape[3];
        memset(&s, 0, sizeof s);
        /* the module owns and reorders these arrays */
        s.n = 3;
        s.paths = malloc(3 * sizeof *s.paths);
        s.info = malloc(3 * sizeof *s.info);
        if (!s.paths || !s.info)
            abort();
        nrm[0] = info.iop[1] * info.iop[5] - info.iop[2] * info.iop[4];
        nrm[1] = info.iop[2] * info.iop[3] - info.iop[0] * info.iop[5];
        nrm[2] = info.iop[0] * info.iop[4] - info.iop[1] * info.iop[3];
        for (int k = 0; k < 3; k++) {
            char name[2] = {(char)('a' + k), 0};
            s.paths[k] = strdup(name);
            s.info[k] = info;
            for (int i = 0; i < 3; i++)
                s.info[k].ipp[i] += nrm[i] * (2 - k) * 1.5 + (k == 2 ? info.spacing[0] * 0.1 * (i == 0) : 0);
        }
        if (dicomvol_geometry(&s, A, shape, sp) == 0)
            for (int i = 0; i < 16; i++)
                if (!isfinite(A[i]))
                    abort();
        dicomvol_series_free(&s);
    }
    return 0;
}
