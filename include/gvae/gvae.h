// Umbrella header: everything a client of libgvae needs.
#ifndef GVAE_GVAE_H
#define GVAE_GVAE_H

#include "gvae/Contract.h"
#include "gvae/Cuda.h"
#include "gvae/Errors.h"
#include "gvae/Geometry.h"
#include "gvae/GraphBuilder.h"
#include "gvae/GvhFile.h"
#include "gvae/Hits.h"
#include "gvae/Model.h"
#include "gvae/Producer.h"
#include "gvae/Simulator.h"
#include "gvae/Snap.h"
#include "gvae/Threading.h"
#include "gvae/Version.h"

#endif  // GVAE_GVAE_H
