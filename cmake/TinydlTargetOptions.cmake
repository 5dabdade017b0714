# Compile options for tinydl's own targets (tests, examples, benchmarks); never for consumers.

# tinydl_strict_warnings(<target>): -Wall -Wextra -Wpedantic, as errors when TINYDL_WERROR is on.
function(tinydl_strict_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic $<$<BOOL:${TINYDL_WERROR}>:-Werror>)
endfunction()

# tinydl_fast_code(<target>): -O3 -march=native in Release builds, when TINYDL_NATIVE is on, for
# programs whose speed matters (examples, benchmarks). Tests take their flags from the build's
# configuration instead, so the portable and AVX2 configurations test what they claim to.
function(tinydl_fast_code target)
  if(TINYDL_NATIVE)
    target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-O3 -march=native>)
  else()
    target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-O3>)
  endif()
endfunction()
