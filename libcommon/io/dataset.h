/*
 * dataset — a Medical Segmentation Decathlon or nnU-Net dataset.json as a
 * case list (manifest.h's struct), so that a data set as users download it
 * goes into ct-resample --manifest unchanged.
 *
 * Two layouts:
 *  - Decathlon / nnU-Net v1: "training" lists {"image": "./imagesTr/x.nii.gz",
 *    "label": "./labelsTr/x.nii.gz"}; "test" lists image paths. When a listed
 *    image is absent but its nnU-Net channel file (x_0000.nii.gz) exists,
 *    that is read.
 *  - nnU-Net v2 (no "training" list): the cases are the files
 *    imagesTr/CASE_0000<file_ending> (default ".nii.gz") with
 *    labelsTr/CASE<file_ending> when present, then imagesTs likewise.
 * Training cases come first, then test cases (unlabelled). Paths are
 * relative to the dataset.json's folder; the id is the image's file name
 * without its extension and channel suffix.
 *
 * "labels" become the class names by value: Decathlon's {"0": "background",
 * "1": "liver"} and nnU-Net v2's {"background": 0, "liver": 1} alike;
 * region-based labels (a list of values) are refused. Only the first
 * channel is read ("modality" / "channel_names" with more than one entry
 * is a warning).
 *
 * Errors name the file and the entry: "dataset.json: training[3]: no image".
 *
 * Not here: checking that the files exist (callers do, naming the entry).
 */
#ifndef LRC_DATASET_H
#define LRC_DATASET_H

#include <stddef.h>

#include "io/manifest.h"

int dataset_load(const char *path, manifest *m);

/* The same from text already in memory; dir is the folder relative paths
 * start from (NULL: the current one), name what messages call the file. */
int dataset_parse(const char *text, size_t len, const char *dir, const char *name, manifest *m);

#endif
