/* SPDX-License-Identifier: MIT */
/*
 * The port's worker pool (Storport work items): N threads draining a
 * bounded FIFO of vs_work items.  Miniports send blocking work here because
 * start_io must not sleep.  The queue is intrusive (vs_work.next), so
 * queueing never allocates.
 */
#include <errno.h>
#include <stdlib.h>

#include "port_int.h"

static void *worker_main(void *arg)
{
	struct workq *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->head)
			break;                  /* stopping and drained */
		struct vs_work *w = q->head;
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		pthread_mutex_unlock(&q->mu);
		w->next = NULL;
		w->fn(w);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int vs_workq_start(struct workq *q, uint32_t nthreads, uint32_t max)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->max = max;
	q->threads = calloc(nthreads, sizeof(*q->threads));
	if (!q->threads)
		return -ENOMEM;
	for (uint32_t i = 0; i < nthreads; i++) {
		int rc = pthread_create(&q->threads[i], NULL, worker_main, q);
		if (rc) {
			vs_workq_stop(q);
			return -rc;
		}
		q->nthreads++;
	}
	return 0;
}

int vs_workq_push(struct workq *q, struct vs_work *w)
{
	pthread_mutex_lock(&q->mu);
	if (q->stop || q->n >= q->max) {
		pthread_mutex_unlock(&q->mu);
		return -ENOMEM;
	}
	w->next = NULL;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* Runs what is queued, then joins the threads. */
void vs_workq_stop(struct workq *q)
{
	if (!q->threads)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (uint32_t i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	q->threads = NULL;
	q->nthreads = 0;
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
}

int vs_port_queue_work(struct vs_port *port, struct vs_work *work)
{
	if (!port_arg(port, "queue_work: port") || !port_arg(work, "queue_work: work"))
		return -EINVAL;
	if (!work->fn) {
		vs_set_error("queue_work: work.fn must be set");
		return -EINVAL;
	}
	if (vs_workq_push(&port->workers, work)) {
		vs_set_error("work: queue full (%u items)", port->workers.max);
		return -ENOMEM;
	}
	return 0;
}
