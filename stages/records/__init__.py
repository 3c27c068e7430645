"""What one stage hands the next: one typed record per artifact, each with one writer and
one reader, documented where it is defined. No stage reads another's file by key.

record (module): file(s); written by -> read by
- ``VideoInfo`` (stages.probe): probe.json; decode -> select, render, workout, results
- ``FrameCache`` (stages.framecache): frames.u8, frame_times.npy, frames.json;
  decode -> score, workout
- ``AudioEnvelope`` (stages.audio): audio.npz, absent without sound; decode -> score
- ``FrameScores`` (stages.records.scores): scores.npz; score -> select, workout
- ``Selection`` (stages.records.highlights): highlights.json; select -> render, results
- ``Reel`` (stages.records.reel): reel.json beside reel.mp4; render -> results
- ``WorkoutAnalysis`` (stages.records.workout): workout.json; workout -> results

This package imports nothing on purpose: a reader imports only the record it needs.
"""
