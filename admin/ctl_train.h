#ifndef ADMIN_CTL_TRAIN_H
#define ADMIN_CTL_TRAIN_H
/* mailguardctl train / train-neural: teach the filter's Bayes and neural layers from labelled
 * mail (admin/ctl_train.c). Local: writes the daemon's state directory as the daemon's user. */

/* argv[0] is "train" or "train-neural". Returns the exit status: 0 done, 1 failure, 2 usage. */
int ctl_train_main(const char *config_dir, int argc, char **argv);

#endif
