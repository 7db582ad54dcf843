/* pipeline.h - the glue between the stages and the faces: the ingest run,
 * the vectorize pass, the file walk, the configuration and one answer turn.
 *
 * cli/ and serve/ call these; the stages (ingest/, embed/, index/, retrieve/,
 * generate/) never do. Like the stages, nothing here prints or exits.
 */
#ifndef DQ_PIPELINE_H
#define DQ_PIPELINE_H

#endif
