# Install rules and the Debian package (CPack). `cmake --install build [--prefix P]` puts
#   bin/reddiff, bin/reddiff-convert
#   share/reddiff/models/reddiff-default.safetensors   (the bundled model; found relative to bin/reddiff)
#   share/reddiff/examples/                            (the example photos)
#   share/doc/reddiff/                                 (README, docs/, the copyright file)
# and `cpack -G DEB` in the build folder makes reddiff_VERSION_ARCH.deb from the same files, its Depends
# computed by dpkg-shlibdeps (dpkg-dev, part of build-essential).
include(GNUInstallDirs)

# The installed reddiff looks for its model at this path relative to its own executable.
file(RELATIVE_PATH REDDIFF_INSTALLED_MODEL_DIR ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/reddiff/models)
target_compile_definitions(reddiff PRIVATE REDDIFF_INSTALLED_MODEL_DIR="${REDDIFF_INSTALLED_MODEL_DIR}")

install(TARGETS reddiff RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET reddiff-convert)
  install(TARGETS reddiff-convert RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES models/reddiff-default.safetensors DESTINATION ${CMAKE_INSTALL_DATADIR}/reddiff/models)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/reddiff/examples)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES cmake/debian-copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)
file(GLOB doc_pages ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${doc_pages} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY docs/images DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# ---------------------------------------------------------------- the .deb
set(REDDIFF_DEB_MAINTAINER "reddiff maintainers <maintainers@users.noreply.b-seed-35cbd2ae.example>"
    CACHE STRING "The Maintainer field of the .deb")
set(CPACK_PACKAGE_NAME reddiff)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${REDDIFF_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${REDDIFF_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "restore images with a diffusion prior (RED-diff, DPS, PiGDM, DDRM)")
set(deb_description "reddiff restores images (inpainting, super-resolution, deblurring, colorization,
denoising, phase retrieval, HDR) by solving the inverse problem with a pretrained
diffusion model as the prior. It bundles a small model, so `reddiff inpaint --mask box
photo.png out.png` works out of the box, and converts the released guided-diffusion and
DPS checkpoints.")
if(REDDIFF_HAVE_CUDA)
  file(STRINGS ${CUDNN_INCLUDE_DIR}/cudnn_version.h cudnn_major REGEX "#define CUDNN_MAJOR +[0-9]+")
  string(REGEX REPLACE ".* ([0-9]+)$" "\\1" cudnn_major "${cudnn_major}")
  string(APPEND deb_description "
This build has the CUDA backend. On a GPU it needs an NVIDIA driver and the CUDA
${CUDAToolkit_VERSION_MAJOR} runtime, cuBLAS, cuFFT and cuDNN ${cudnn_major} libraries on the dynamic loader's path
(NVIDIA's CUDA packages put them under /usr/local/cuda); they are not Debian
packages, so they are not in Depends. Without a GPU it runs on the CPU.")
endif()
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${deb_description}")
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)            # reddiff_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
