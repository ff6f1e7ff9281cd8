# Run at every build (cmake -P): writes OUT, a header naming the source's commit and whether tracked files
# differed from it, only when that changed, so an unchanged tree rebuilds nothing. Outside a git checkout
# (a source tarball) the commit is "unknown".
execute_process(COMMAND git -C ${SOURCE_DIR} rev-parse --short=12 HEAD OUTPUT_VARIABLE commit
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
set(dirty 0)
if(failed OR commit STREQUAL "")
  set(commit unknown)
else()
  execute_process(COMMAND git -C ${SOURCE_DIR} status --porcelain --untracked-files=no
    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT changes STREQUAL "")
    set(dirty 1)
  endif()
endif()
set(text "// Written by cmake/stamp_version.cmake at build time.\n#define HG_SOURCE_COMMIT \"${commit}\"\n#define HG_SOURCE_DIRTY ${dirty}\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
