// Package writeback turns selected image references into byte-exact edits of
// the files in a directory tree.
//
// The work is split the way kyaml splits a pipeline: I/O at the ends, pure
// steps in the middle.
//
//   - Scan finds Targets in files (path and bytes in, targets out): scalars
//     carrying a Flux-style marker (# {"$imagepolicy": "NS:NAME"} and its
//     :tag, :name and :digest forms) and the images of the containers of
//     annotated workloads (hoist.dev/policy, fluxcd.io/tag.CONTAINER,
//     keel.sh/policy).
//   - Plan turns Targets and Selections (policy key to new reference) into a
//     Changeset: the changes to make, and the targets that are refused.
//   - Apply splices the changes of one file into its bytes; Write does it for
//     a whole Changeset on disk, through a temporary file and a rename.
//
// ScanDir and Index do the reading: a walk of the tree with concurrent
// readers that parse only the files a fast byte search says may hold a
// target. An Index remembers, by size and modification time, which files
// hold targets, so that a repeated run reads only those.
//
// Only the bytes of the values that change are written: comments, quoting,
// indentation, line endings and every other byte of a file stay as they
// were. No file is ever re-serialised.
package writeback
